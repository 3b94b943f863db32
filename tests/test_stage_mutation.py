"""Tests written for mutants of the study stages that survived every other test (issue 25's sampled
mutation pass, docs/mutation.md): each fails on the mutant named in its docstring."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest


def _fact_world_items(step: int = 3) -> pd.DataFrame:
    """A fact-world item table as conjugate's stage 3 writes it: the base (step 0) and one checkpoint,
    both transforms, ICL and private items."""
    rows = []
    for (s, transform, task), i in itertools.product(itertools.product((0, step), ("identity", "world_l2"), ("icl", "private")), range(4)):
        score = float((i + s) % 2)
        rows.append({"model": "base" if s == 0 else "tuned", "seed": 0, "step": s, "suite": "fact_world", "transform": transform,
                     "task": task, "key": f"{task}/{i:04d}", "item_id": f"fact_world/{transform}/{task}/{i:04d}",
                     "kind": "starts_with", "output": "", "answer": "x", "score": score, "followed_instruction": score,
                     "refused": 1 - score if task == "private" else np.nan, "leaked": 0.0 if task == "private" else np.nan})
    return pd.DataFrame(rows)


def _analyze_world(tmp_path, items: pd.DataFrame):
    from forgetscope.store import RunStore
    from forgetscope.studies.conjugate.config import ConjugateConfig
    from forgetscope.studies.conjugate.s4_results_analyze import analyze

    store = RunStore(tmp_path / "run")
    stage = store.stage("3_fact_world")
    stage.start()
    items.to_parquet(stage.path / "seed-0.items.parquet", index=False)
    stage.mark_done({"trajectory_run": str(tmp_path / "traj")})
    return analyze(ConjugateConfig.model_validate({"study": "conjugate", "fact_world": {"run": str(tmp_path / "traj")}}), store)


def test_conjugate_analysis_refuses_a_non_finite_fact_world_score(tmp_path):
    """s4_results_analyze.analyze: the fact world's scores are checked for NaN before any row, check or
    verdict is made from them (mutant: `require_finite(world, ["XXscoreXX"], …)`, which checks no column)."""
    from forgetscope.errors import NonFiniteError

    items = _fact_world_items()
    summary = _analyze_world(tmp_path / "finite", items)  # the same table without the NaN is analysed
    assert summary.fact_world is not None and summary.fact_world.steps == [3]
    items.loc[5, "score"] = np.nan
    with pytest.raises(NonFiniteError, match=r"3_fact_world: the scores: 1 non-finite value\(s\) in column 'score'"):
        _analyze_world(tmp_path / "nan", items)


def test_every_trajectory_stage_scores_at_the_configured_batch_size(tmp_path, monkeypatch):
    """s4_checkpoints_evaluate (and s5, s6) build their scorers with `eval.batch_size` (mutant:
    `NativeScorer(model, ctx.tokenizer, )`, the default of 64, which equals the smoke config's, so no
    number shows it; on a GPU the configured size is what keeps a large model in memory)."""
    from conftest import SMOKE, run_cli, write_yaml

    from forgetscope.evaluation.scorer import NativeScorer

    sizes = []
    init = NativeScorer.__init__

    def recording(self, *args, **kwargs):
        init(self, *args, **kwargs)
        sizes.append(self.batch_size)

    monkeypatch.setattr(NativeScorer, "__init__", recording)
    cfg = {**SMOKE, "eval": {"batch_size": 5}, "runtime": {**SMOKE["runtime"], "cache_dir": str(tmp_path / "cache")}}
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(tmp_path / "run"), "-q")
    assert proc.returncode == 0, proc.stderr
    # s4: the base and 3 checkpoints; s5: the base; s6: the base and 3 checkpoints restored
    assert len(sizes) >= 9 and set(sizes) == {5}, sizes


@pytest.mark.parametrize("change", [{"task__d": 4}, {"task__k_max": 6}, {"task__n_discrete": 5}, {"task__sigma": 0.25},
                                    {"task__tau": 2.0}, {"task__alpha": 0.25}])
def test_the_regression_base_cache_key_covers_the_task(change):
    """s1_base_pretrain.base_cache_key: a base pre-trained on another task is another base (mutant:
    the task left out of the key, so a cached base of one task was taken for another)."""
    from test_regression_study import tiny

    from forgetscope.studies.regression.config import RegressionConfig
    from forgetscope.studies.regression.context import SeedContext
    from forgetscope.studies.regression.s1_base_pretrain import base_cache_key

    def key(**changes) -> str:
        return base_cache_key(SeedContext(RegressionConfig.model_validate(tiny(**changes)), None, 0, None))

    assert key() == key() and key(**change) != key()


def test_fine_tuning_data_in_the_text_format_is_packed_into_lm_blocks(tiny_world):
    """s3_model_finetune.finetune_batches: `text` rows (a user's own fine-tuning data) become packed LM
    blocks of `finetune.train.max_length` (mutant: `lm_texts(label)`, a crash on the first such data; a
    tiny base accepts only the world's data, so no end-to-end smoke run reaches this branch)."""
    from types import SimpleNamespace

    from forgetscope.studies.trajectory.s3_model_finetune import finetune_batches
    from forgetscope.training.batches import LMBatches

    tok = tiny_world.tokenizer()
    rows = tiny_world.restore  # the world's restoration texts: {"text": ...} rows
    finetune = SimpleNamespace(data="own.jsonl", loss="completion", train=SimpleNamespace(max_length=16))
    ctx = SimpleNamespace(cfg=SimpleNamespace(finetune=finetune), tokenizer=tok, seed=0,
                          rows=lambda data, default: rows, label=lambda data, default: data)
    batches = finetune_batches(ctx)
    stream = [i for ids in tok([r["text"] for r in rows], add_special_tokens=False)["input_ids"] for i in [*ids, tok.eos_token_id]]
    assert isinstance(batches, LMBatches) and batches.blocks.shape == (len(stream) // 16, 16)
    assert batches.blocks.flatten().tolist() == stream[: batches.blocks.numel()]
