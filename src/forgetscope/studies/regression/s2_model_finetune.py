"""Stage 2: fine-tune the base on the discrete family only, keeping checkpoints on the schedule.

An interrupted run starts again from its last checkpoint (training.checkpointed): the optimizer state
is saved beside it and batches are a function of (seed, step), so the result equals an uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path

from forgetscope.studies.regression.context import FINETUNE_STAGE, SeedContext
from forgetscope.studies.regression.data import FINETUNE_STREAM
from forgetscope.studies.regression.data import RegressionBatches, prefix_mse_sum
from forgetscope.studies.regression.model import load_model, save_model
from forgetscope.studies.stages import run_stage
from forgetscope.training.checkpointed import train_with_checkpoints


def finetune(ctx: SeedContext) -> None:
    stage = ctx.stage(FINETUNE_STAGE)
    run_stage(stage, lambda _: _finetune(ctx, stage.path))


def _finetune(ctx: SeedContext, folder: Path) -> dict:
    c = ctx.cfg
    batches = RegressionBatches(ctx.families, c.n_points, 1.0, ctx.seed, FINETUNE_STREAM)
    result, resumed = train_with_checkpoints(
        folder, lambda checkpoint: load_model(checkpoint or ctx.base_path, device=ctx.device), batches, c.finetune.train,
        ctx.steps, seed=ctx.seed, save_checkpoint=lambda m, target, _: save_model(m, target, replace=True), reporter=ctx.reporter,
        loss_fn=prefix_mse_sum, local=True, device=ctx.device,
    )
    return {"checkpoints": ctx.steps, "seconds": result.seconds, "resumed_from": resumed}
