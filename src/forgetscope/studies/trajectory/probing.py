"""Probing one model of a seed (the base, a checkpoint, a restored model): every probe item and
bits/byte on held-out text into `<prefix>.items.parquet` / `<prefix>.bpb.parquet` (and, with the
lm-eval backend or lm-eval tasks configured, `<prefix>.lm_eval.parquet`). Shared by the evaluation
and restoration stages."""

from __future__ import annotations

import pandas as pd

from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.evaluation.probes_and_bpb import evaluate_model
from forgetscope.store import atomic_write_bytes
from forgetscope.studies.trajectory.context import SeedContext


def write_evaluation(ctx: SeedContext, scorer: NativeScorer, prefix, *, condition: str, step: int) -> None:
    items, bpb = evaluate_model(scorer, ctx.probe_items, ctx.heldout_rows, ctx.probe_settings)
    tag = {"seed": ctx.seed, "condition": condition, "step": step}
    atomic_write_bytes(f"{prefix}.items.parquet", pd.DataFrame([{**tag, **r} for r in items]).to_parquet(index=False))
    atomic_write_bytes(f"{prefix}.bpb.parquet", pd.DataFrame([{**tag, **r} for r in bpb]).to_parquet(index=False))
    if ctx.cfg.eval.uses_lm_eval:
        write_lm_eval(ctx, scorer, prefix, tag)


def write_lm_eval(ctx: SeedContext, scorer: NativeScorer, prefix, tag: dict) -> None:
    """The same model through lm-eval's HFLM: the choice/exact probe items (backend lm_eval) and the
    configured lm-eval tasks, one row per item (or document) and metric, lm-eval's metric names."""
    from forgetscope.evaluation.kinds import LM_EVAL_KINDS
    from forgetscope.evaluation.lm_eval_backend import TASK_PREFIX, aggregate_rows, evaluate_with_lm_eval

    ev = ctx.cfg.eval
    items = [it for it in ctx.probe_items if it.kind in LM_EVAL_KINDS] if ev.backend == "lm_eval" else []
    rows, raw = evaluate_with_lm_eval(scorer.model, scorer.tok, items, batch_size=ev.batch_size, extra_tasks=ev.lm_eval_tasks,
                                      include_path=ev.lm_eval_include_path, settings=ctx.probe_settings)
    df = pd.DataFrame([{**tag, "backend": "lm_eval", **r} for r in rows])
    atomic_write_bytes(f"{prefix}.lm_eval.parquet", df.to_parquet(index=False))
    own = [t for t in raw["results"] if t.startswith(TASK_PREFIX)]  # the probe items' generated tasks
    agg = pd.DataFrame([{**tag, **r} for r in aggregate_rows(raw, own)], columns=[*tag, "probe", "metric", "value", "stderr", "n"])
    atomic_write_bytes(f"{prefix}.lm_eval_agg.parquet", agg.to_parquet(index=False))
