"""Stage 1: the base model, pre-trained on the task mixture (a prompt is discrete with probability
alpha), with the curriculum on active dimensions if configured; or taken from the cache, keyed by a
hash of everything that makes it (task, model, pre-training config, seed, threads)."""

from __future__ import annotations

from pathlib import Path

from forgetscope import cache
from forgetscope.config import config_hash
from forgetscope.studies.regression.context import BASE_STAGE, SeedContext
from forgetscope.studies.regression.data import (
    PRETRAIN_STREAM,
    RegressionBatches,
    prefix_mse_sum,
)
from forgetscope.studies.regression.model import build_model, save_model
from forgetscope.studies.stages import run_stage
from forgetscope.training.checkpointed import keep_last_checkpoint_as, train_with_checkpoints

BASE_FORMAT = 1  # bump when the pre-training code changes what a base is


def base_cache_key(ctx: SeedContext) -> str:
    c = ctx.cfg
    b = c.base
    pretrain = {**b.train.model_dump(mode="json"), "curriculum": None if b.curriculum is None else b.curriculum.model_dump(mode="json")}
    return config_hash("regression-base", c.task, b.model, pretrain, ctx.seed, BASE_FORMAT, c.runtime.threads)


def pretrain_base(ctx: SeedContext) -> None:
    stage = ctx.stage(BASE_STAGE)

    def work(_: str) -> dict:
        return cache.cached_or_build("regression-bases", base_cache_key(ctx), stage.path, lambda folder: _pretrain(ctx, folder),
                                     configured=ctx.cfg.runtime.cache_dir, on_hit=lambda: ctx.reporter.start("base (cached)", 1))

    run_stage(stage, work, fresh=True)


def _pretrain(ctx: SeedContext, folder: Path) -> dict:
    """Pre-train through the training helper every stage uses (training.checkpointed): its one
    checkpoint, the last step, becomes `model/`; the helper writes the loss log."""
    c = ctx.cfg
    b = c.base
    cur = b.curriculum
    batches = RegressionBatches(ctx.families, c.n_points, c.task.alpha, ctx.seed, PRETRAIN_STREAM,
                                active_dims=(lambda step: cur.active_dims(step, c.task.d)) if cur else None)
    result, _ = train_with_checkpoints(
        folder, lambda _: build_model(b.model, c.task.d, c.n_points, seed=ctx.seed).to(ctx.device), batches, b.train,
        [b.train.steps], seed=ctx.seed, reporter=ctx.reporter, title="base pretrain",
        save_checkpoint=lambda m, target, _: save_model(m, target, replace=True),
        loss_fn=prefix_mse_sum, local=True, device=ctx.device)
    keep_last_checkpoint_as(folder, "model")
    return {"seconds": result.seconds, "steps_per_second": b.train.steps / result.seconds if result.seconds else None,
            "final_loss": result.losses[-1] if result.losses else None}
