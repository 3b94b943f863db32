"""Stage 5: pattern shift of every checkpoint against the base, from the responses stage 4 stored
(the base is loaded once; checkpoints are not loaded again)."""

from __future__ import annotations

import pandas as pd

from forgetscope.evaluation.pattern_shift import base_pass
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.store import atomic_write_bytes
from forgetscope.studies.trajectory.context import SeedContext, step_name


def measure_pattern_shift(ctx: SeedContext) -> None:
    stage = ctx.stage("5_pattern")
    if stage.done:
        return
    with stage.exclusive() as mine:
        if mine:
            _measure(ctx, stage)


def _measure(ctx: SeedContext, stage) -> None:
    folder = stage.reset()
    steps = [0, *ctx.steps]
    ctx.reporter.start("pattern shift", len(steps))
    scorer = NativeScorer(ctx.load(ctx.base_path), ctx.tokenizer, batch_size=ctx.cfg.eval.batch_size)
    rows = []
    evaluated = ctx.stage("4_evaluate").path
    for step in steps:
        for fmt in ctx.pattern_prompts:
            stored = evaluated / f"{step_name(step)}.pattern-{fmt}.safetensors"
            rows.append({"seed": ctx.seed, "step": step, "format": fmt, **base_pass(scorer, stored)})
        ctx.reporter.advance()
    atomic_write_bytes(folder / "pattern.parquet", pd.DataFrame(rows).to_parquet(index=False))
    stage.mark_done()
