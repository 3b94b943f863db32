"""Stage 1: the base model, pre-trained on the task mixture (a prompt is discrete with probability
alpha), with the curriculum on active dimensions if configured; or taken from the cache, keyed by a
hash of everything that makes it (task, model, pre-training config, seed, threads)."""

from __future__ import annotations

import pandas as pd

from forgetscope import cache
from forgetscope.config import config_hash
from forgetscope.store import atomic_write_bytes
from forgetscope.studies.regression.context import SeedContext
from forgetscope.studies.regression.data import PRETRAIN, RegressionBatches, prefix_mse_sum
from forgetscope.studies.regression.model import build_model, save_model
from forgetscope.training import train

BASE_FORMAT = 1  # bump when the pre-training code changes what a base is


def base_cache_key(ctx: SeedContext) -> str:
    c = ctx.cfg
    return config_hash("regression-base", c.task, c.model, c.pretrain, ctx.seed, BASE_FORMAT, c.runtime.threads)


def pretrain_base(ctx: SeedContext) -> None:
    stage = ctx.stage("1_base")
    if stage.done:
        return
    with stage.exclusive() as run:
        if run:
            _pretrain(ctx, stage)


def _pretrain(ctx: SeedContext, stage) -> None:
    c = ctx.cfg
    key = base_cache_key(ctx)
    hit = cache.cached("regression-bases", key, c.runtime.cache_dir)
    if hit is not None:
        ctx.reporter.start("base (cached)", 1)
        cache.restore_into_stage(hit, stage, key)
        ctx.reporter.advance()
        return
    folder = stage.reset()
    model = build_model(c.model, c.task.d, c.n_points, seed=ctx.seed).to(ctx.device)
    cur = c.pretrain.curriculum
    batches = RegressionBatches(ctx.families, c.n_points, c.task.alpha, ctx.seed, PRETRAIN,
                                active_dims=(lambda step: cur.active_dims(step, c.task.d)) if cur else None)
    ctx.reporter.start("base pretrain", c.pretrain.steps)
    result = train(model, batches, c.pretrain, seed=ctx.seed, loss_fn=prefix_mse_sum, local=True, device=ctx.device,
                   on_step=lambda s, loss: ctx.reporter.advance())
    save_model(model, folder / "model")
    log = pd.DataFrame({"step": range(1, len(result.losses) + 1), "loss": result.losses})
    atomic_write_bytes(folder / "train_log.parquet", log.to_parquet(index=False))
    cache.put("regression-bases", key, folder, c.runtime.cache_dir)
    stage.mark_done({"cache_key": key, "from_cache": False, "seconds": result.seconds,
                     "steps_per_second": c.pretrain.steps / result.seconds if result.seconds else None,
                     "final_loss": result.losses[-1] if result.losses else None})
