"""lm-eval tasks as the unlearning study's general probes (`general_tasks`): a local task (a YAML over
a JSONL file of the fact world's cloze facts, nothing downloaded) scored on every model before
relearning; each model's document scores recomputed with the native scorer from the saved model, the
summary's task scores and drops recomputed from the saved document rows; an unknown task name is one
line before compute."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("lm_eval")

from conftest import assert_matches_schema, assert_one_line_error, run_cli, write_yaml  # noqa: E402

TASK = "world_facts"
N_DOCS, N_CHOICES = 12, 5


def config(tmp_path, tasks) -> dict:
    """The smoke config at its smallest: one seed, ga alone, no audited oracle, one short relearning."""
    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "unlearning-smoke.yaml").read_text())
    cfg["seeds"] = [0]
    cfg["base"]["train"]["steps"] = 40
    cfg["world"]["pretrain"] = {"bios_per_person": 2, "icl_episodes": 30}
    # ga strong enough to move the task's documents (a drop of 0 would hide its sign)
    cfg["methods"] = [{"name": "ga", "train": {"steps": 5, "batch_size": 8, "lr": 0.02, "max_length": 64}}]
    cfg["oracle"] = {"audit": False}
    cfg["relearn"] = {"attacks": ["text"], "curve": [], "train": {"steps": 2, "batch_size": 8, "lr": 0.001, "max_length": 64}}
    cfg["general_tasks"] = tasks
    cfg["general_tasks_include_path"] = [str(tmp_path / "tasks")]
    return cfg


def world_task(cfg: dict, folder) -> list[dict]:
    """A multiple-choice lm-eval task over the world's own cloze facts (its vocabulary): the answer
    and the next choices, the answer's index moved."""
    from forgetscope.world.build import build_world
    from forgetscope.world.config import WorldConfig

    world = build_world(WorldConfig.model_validate(cfg["world"]), cfg["base_seed"])
    docs = []
    for i, r in enumerate([r for r in world.probes if r["probe"] == "cloze_l1"][:N_DOCS]):
        others = [c for c in r["choices"] if c != r["choices"][r["answer"]]][:N_CHOICES - 1]
        k = i % N_CHOICES
        docs.append({"question": r["prompt"], "choices": others[:k] + [r["choices"][r["answer"]]] + others[k:], "answer": k})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{TASK}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / f"{TASK}.yaml").write_text(
        f"task: {TASK}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {folder / f'{TASK}.jsonl'}\n"
        "test_split: test\noutput_type: multiple_choice\ndoc_to_text: '{{question}}'\ndoc_to_choice: '{{choices}}'\n"
        "doc_to_target: '{{answer}}'\ntarget_delimiter: ''\nmetric_list:\n  - metric: acc\n  - metric: acc_norm\n"
        "metadata:\n  version: 1\n")
    return docs


def native_acc(model_dir, tokenizer, docs: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """acc of each document by the native scorer (the argmax of the choices' log-likelihoods), and
    each document's margin between its two best choices (a near tie may fall either way)."""
    from forgetscope.evaluation.scorer import NativeScorer
    from forgetscope.models import load_model

    scorer = NativeScorer(load_model(model_dir, device="cpu"), tokenizer)
    lls = scorer.loglikelihood([(d["question"], c) for d in docs for c in d["choices"]])
    lp = np.array([x.logprob for x in lls]).reshape(len(docs), N_CHOICES)
    top2 = np.sort(lp, axis=1)[:, -2:]
    return (lp.argmax(1) == np.array([d["answer"] for d in docs])).astype(float), top2[:, 1] - top2[:, 0]


def test_general_tasks_score_every_model_before_relearning(tmp_path):
    from forgetscope.models import load_tokenizer

    cfg = config(tmp_path, [TASK])
    docs = world_task(cfg, tmp_path / "tasks")
    out = tmp_path / "run"
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", out, "-q")
    assert proc.returncode == 0, proc.stderr
    assert_matches_schema(out / "summary.json", "unlearning")
    s = json.loads((out / "summary.json").read_text())
    evaluate = out / "seed-0" / "4_evaluate"
    models = {"base": out / "2_bases" / "base" / "model", "oracle-control": out / "2_bases" / "oracle-control" / "model",
              "ga": out / "seed-0" / "3_unlearn" / "ga"}
    assert sorted(p.name for p in evaluate.glob("*.general_tasks.parquet")) == sorted(f"{m}.general_tasks.parquet" for m in models)
    assert not list((out / "seed-0" / "5_relearn").glob("*general_tasks*"))  # relearned models: not scored on tasks
    tok = load_tokenizer(out / "1_world" / "tokenizer")
    acc = {}
    for name, folder in models.items():
        rows = pd.read_parquet(evaluate / f"{name}.general_tasks.parquet")
        assert len(rows) == 2 * N_DOCS and set(rows.metric) == {"acc", "acc_norm"}  # one row per document and metric
        a = rows[rows.metric == "acc"].assign(doc=lambda t: t.item_id.str.split("/").str[-1].astype(int)).sort_values("doc")
        assert a.doc.tolist() == list(range(N_DOCS)) and set(a.probe) == {TASK}
        mine, margin = native_acc(folder, tok, docs)
        clear = margin > 1e-3
        assert clear.sum() >= N_DOCS - 2
        np.testing.assert_array_equal(a.score.to_numpy()[clear], mine[clear])  # lm-eval's acc is the native argmax
        acc[name] = a.score.to_numpy()

    def task(scores: dict) -> dict:
        [t] = scores["general_tasks"]
        assert (t["task"], t["metric"], t["documents"], t["fraction"]) == (TASK, "acc", N_DOCS, True)
        return t

    # the summary's scores: the mean of the saved per-document acc; drops: base − model, paired by document
    assert task(s["base"])["mean"] == pytest.approx(acc["base"].mean(), abs=1e-9)
    assert task(s["control"])["mean"] == pytest.approx(acc["oracle-control"].mean(), abs=1e-9)
    [ga] = s["models"]
    assert task(ga["scores"])["mean"] == pytest.approx(acc["ga"].mean(), abs=1e-9)
    [drop] = ga["general_task_drops"]
    assert (drop["task"], drop["metric"]) == (TASK, "acc")
    assert drop["mean"] == pytest.approx(acc["base"].mean() - acc["ga"].mean(), abs=1e-9) and drop["mean"] != 0
    assert drop["ci"][0] <= drop["mean"] <= drop["ci"][1]  # one seed: an interval over documents
    saved = pd.read_parquet(out / "results" / "general_tasks.parquet")
    assert len(saved) == 3 * 2 * N_DOCS and set(saved.model) == set(models)
    report = (out / "report.html").read_text()
    assert f"{TASK} (acc) · drop [CI]" in report


def test_an_unknown_general_task_is_one_line_before_compute(tmp_path):
    cfg = config(tmp_path, ["world_factz"])
    world_task(cfg, tmp_path / "tasks")
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", tmp_path / "run")
    assert_one_line_error(proc, "general_tasks", "'world_factz'", "did you mean 'world_facts'")
    assert not (tmp_path / "run" / "1_world").exists()
