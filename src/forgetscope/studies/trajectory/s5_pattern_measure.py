"""Stage 5: pattern shift of every checkpoint against the base, from the responses stage 4 stored
(the base is loaded once; checkpoints are not loaded again)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forgetscope.evaluation.pattern_shift import base_pass
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.store import atomic_write_bytes
from forgetscope.studies.stages import run_stage
from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.training.checkpoints import step_name
from forgetscope.views import EVALUATE_STAGE, PATTERN_STAGE


def measure_pattern_shift(ctx: SeedContext) -> None:
    stage = ctx.stage(PATTERN_STAGE)
    run_stage(stage, lambda _: _measure(ctx, stage.path), fresh=True)


def _measure(ctx: SeedContext, folder: Path) -> None:
    steps = [0, *ctx.steps]
    ctx.reporter.start("pattern shift", len(steps))
    if not ctx.pattern_prompts:  # eval.pattern_prompts: null
        atomic_write_bytes(folder / "pattern.parquet", pd.DataFrame(columns=["seed", "step", "format"]).to_parquet(index=False))
        return
    scorer = NativeScorer(ctx.load(ctx.base_path), ctx.tokenizer, batch_size=ctx.cfg.eval.batch_size)
    rows = []
    evaluated = ctx.stage(EVALUATE_STAGE).path
    for step in steps:
        for fmt in ctx.pattern_prompts:
            stored = evaluated / f"{step_name(step)}.pattern-{fmt}.safetensors"
            rows.append({"seed": ctx.seed, "step": step, "format": fmt, **base_pass(scorer, stored)})
        ctx.reporter.advance()
    atomic_write_bytes(folder / "pattern.parquet", pd.DataFrame(rows).to_parquet(index=False))
