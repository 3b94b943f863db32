"""`forgetscope compare BASE TUNED` is a one-checkpoint `run`: the same restorers (the doubled budget
that checks saturation included), the same config keys and defaults, so that both give the same
numbers and labels on the same models; --config, --set, --restore-steps, --delta and --threads set
the keys `run` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli, write_yaml

from forgetscope.compare import CompareRequest, configs
from forgetscope.studies.trajectory.config import RestoreConfig, TrajectoryAnalysis, TrajectoryConfig

DATA = Path(__file__).parents[1] / "examples" / "smollm2" / "data"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines()]


def _lm_train(model, tok, texts: list[str], steps: int, lr: float) -> None:
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    enc = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=48)
    labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
    model.train()
    for _ in range(steps):
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny base that has learnt its probes' facts, and a tuned model that lost part of them by
    training on other text: something for restoration to work on (no hub download)."""
    import torch
    from test_own_checkpoints import chatml_tokenizer, tiny_llama

    from forgetscope.models import save_model

    root = tmp_path_factory.mktemp("cmp")
    tok = chatml_tokenizer()
    probes = [r for r in _rows("probes-cpu.jsonl") if r["probe"] == "facts_cloze"][:12] + \
        [r for r in _rows("probes-cpu.jsonl") if r["probe"] == "facts_qa"][:8]
    restore = _rows("restore.jsonl")[:24]
    (root / "probes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in probes))
    (root / "restore.jsonl").write_text("".join(json.dumps(r) + "\n" for r in restore))
    with torch.random.fork_rng(devices=[]):
        model = tiny_llama(tok)
        _lm_train(model, tok, [r["prompt"] + r["choices"][r["answer"]] for r in probes] + [r["text"][:200] for r in restore], 80, 3e-3)
        save_model(model, tok, root / "base")
        _lm_train(model, tok, [r["messages"][-1]["content"] for r in _rows("sft.jsonl")[:16]], 30, 3e-3)
        save_model(model, tok, root / "tuned")
    return root


def test_compare_takes_the_studys_restoration_and_analysis(models, tmp_path):
    """No options: the trajectory study's own restore and analysis defaults (three restorers, the
    doubled budget among them); options and --set write the keys `run` reads; --config's sections."""
    base, tuned = str(models / "base"), str(models / "tuned")
    req = CompareRequest(base=base, tuned=tuned, probes=str(models / "probes.jsonl"), restore_data=str(models / "restore.jsonl"))
    cfg = configs(req)[0][1]
    assert cfg.restore.model_dump(exclude={"data"}) == RestoreConfig().model_dump(exclude={"data"})
    assert [r.build().budget for r in cfg.restore.restorers] == [1, 2, 1]
    assert cfg.analysis == TrajectoryAnalysis() and cfg.runtime.threads == 1
    assert [(c.step, c.path) for c in cfg.finetune.checkpoints_from] == [(1, tuned)] and cfg.base.path == base

    req.restore_steps, req.delta, req.threads = 7, 0.1, 2
    req.overrides = ["restore.train.lr=3e-5", "analysis.n_bootstrap=300"]
    cfg = configs(req)[0][1]
    assert (cfg.restore.train.steps, cfg.restore.train.lr, cfg.analysis.delta, cfg.analysis.n_bootstrap, cfg.runtime.threads) == \
        (7, 3e-5, 0.1, 300, 2)

    run_cfg = {"study": "trajectory", "seeds": [0, 1], "base": {"kind": "pretrained", "path": "elsewhere", "dtype": "bf16"},
               "finetune": {"checkpoints_from": "some/run"},
               "restore": {"data": str(models / "restore.jsonl"), "train": {"steps": 9, "batch_size": 4, "lr": 1e-5},
                           "restorers": ["lm_training", {"name": "lm_training", "budget": 3}]},
               "eval": {"probes": str(models / "probes.jsonl"), "heldout_text": None, "pattern_prompts": None, "batch_size": 8},
               "analysis": {"delta": 0.08}}
    cfg = configs(CompareRequest(base=base, tuned=tuned, config=Path(write_yaml(tmp_path / "run.yaml", run_cfg))))[0][1]
    want = TrajectoryConfig.model_validate(run_cfg)
    for section in ("restore", "eval", "analysis", "runtime"):
        assert getattr(cfg, section) == getattr(want, section), section
    assert cfg.seeds == [0, 1] and cfg.base.path == base and cfg.base.dtype == "bf16"
    assert [(c.step, c.path) for c in cfg.finetune.checkpoints_from] == [(1, tuned)]


def test_no_restoration_data_restores_by_interpolation(models):
    cfg = configs(CompareRequest(base=str(models / "base"), tuned=str(models / "tuned"), probes=str(models / "probes.jsonl")))[0][1]
    assert [(r.name, r.options.get("ratio")) for r in cfg.restore.restorers] == [("interpolation", 0.5)]


def test_compare_and_run_give_the_same_numbers_and_labels(models, tmp_path):
    """The same two models through `compare` (no restoration options) and through `run` (a config
    that names them and leaves restore and analysis at their defaults): every number and label of
    every probe equal, the saturation check included; compare prints them in its table."""
    base, tuned, probes, restore = (str(models / n) for n in ("base", "tuned", "probes.jsonl", "restore.jsonl"))
    proc = run_cli("compare", base, tuned, "--probes", probes, "--restore-data", restore, "--out", tmp_path / "cmp", "-q")
    assert proc.returncode == 0, proc.stderr
    run_cfg = {"study": "trajectory", "seeds": [0], "base": {"kind": "pretrained", "path": base},
               "finetune": {"checkpoints_from": [{"step": 1, "path": tuned}]}, "restore": {"data": restore},
               "eval": {"probes": probes, "heldout_text": None, "pattern_prompts": None}}
    ran = run_cli("run", write_yaml(tmp_path / "run.yaml", run_cfg), "--out", tmp_path / "run", "-q")
    assert ran.returncode == 0, ran.stderr
    via_compare = json.loads((tmp_path / "cmp" / "trajectory" / "summary.json").read_text())
    via_run = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [r["budget"] for r in via_run["restorers"]] == [1, 2, 1]
    for name, p in via_run["probes"].items():
        assert via_compare["probes"][name] == p, name
        c = p["checkpoints"][0]
        row = next(line for line in proc.stdout.splitlines() if name in line)
        assert c["label"] in row and c["label_ci"] in row
    primary = via_run["probes"][via_run["probe"]]["checkpoints"][0]
    row = next(line for line in ran.stdout.splitlines() if via_run["probe"] in line and "│" in line)  # run prints compare's table
    assert primary["label"] in row and primary["label_ci"] in row
    for c in via_run.get("damaged_controls", []):  # and both say when restoration damaged the base itself
        numbers = f"from {100 * c['base']:.1f} to {100 * c['restored_base']:.1f}"
        assert numbers in proc.stdout and numbers in ran.stdout
    labels = {name: (p["checkpoints"][0]["label"], p["checkpoints"][0]["label_ci"]) for name, p in via_run["probes"].items()}
    assert any(label != "none" for label, _ in labels.values()), labels  # the tuned model lost something
    print("labels (compare = run):", labels)
