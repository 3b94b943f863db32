"""Stage 2: the base model. A tiny base is pre-trained on the world's corpus, or taken from the cache
(keyed by a hash of the world's pre-training part, the model, the training config and the seed: the
run seed, or `base_seed` when the seeds share one base);
a pretrained base is only checked here. Under a launcher the whole process group pre-trains
together; the main process writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from forgetscope import cache
from forgetscope.config import config_hash
from forgetscope.data import lm_texts
from forgetscope.distributed import is_main, launched
from forgetscope.execution import torch_threads
from forgetscope.models import build_tiny_model, save_model
from forgetscope.studies.common_config import CORES
from forgetscope.studies.stages import run_stage
from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.training import LMBatches
from forgetscope.training.checkpointed import keep_last_checkpoint_as, train_with_checkpoints
from forgetscope.views import BASE_STAGE

BASE_FORMAT = 1  # bump when the pre-training code changes what a base is


def base_cache_key(ctx: SeedContext) -> str:
    """Hash of what the base is made from: the corpus and vocabulary as generated (so any change to
    the world generator invalidates the cache), the model and training configs, seed and threads
    (base_threads: they can change float sums)."""
    digest = hashlib.sha256()
    for f in (ctx.world_dir / "pretrain.jsonl", ctx.world_dir / "tokenizer" / "tokenizer.json"):
        digest.update(f.read_bytes())
    b = ctx.cfg.base
    return config_hash(digest.hexdigest(), b.model, b.train, ctx.world_seed, BASE_FORMAT, base_threads(ctx))


def base_threads(ctx: SeedContext) -> int:
    """The torch threads a base pre-trains on. A base every seed shares (`base_seed`) trains alone,
    before the seed workers start (main.run_shared) or in the only process: on every core this process
    may use (CORES: pinned, within a container's quota), where one worker's `runtime.threads` would
    leave the others idle through the demos' longest single stage (benchmarks/README.md, "The shared
    base on every core, replay apart"). A seed's own base, and every base under a launcher, trains
    beside other processes: on `runtime.threads`. A function of the config and this machine only, so
    every seed of a run keys the same base."""
    if ctx.cfg.base_seed is None or launched():
        return ctx.cfg.runtime.threads
    return max(ctx.cfg.runtime.threads, CORES)


def pretrain_base(ctx: SeedContext) -> None:
    stage = ctx.stage(BASE_STAGE)

    def work(_: str) -> dict:
        if ctx.cfg.base.kind == "pretrained":
            if is_main():
                ctx.cfg.base.check()
                ctx.tokenizer  # noqa: B018 - fails early, with a clear message, on a folder without a tokenizer
            return {"model": ctx.cfg.base.path, "pretrained": True}
        return cache.cached_or_build("bases", base_cache_key(ctx), stage.path, lambda folder: _pretrain(ctx, folder),
                                     configured=ctx.cfg.runtime.cache_dir, on_hit=lambda: ctx.reporter.start("base (cached)", 1))

    run_stage(stage, work, together=True, fresh=True)


def _pretrain(ctx: SeedContext, folder: Path) -> dict:
    """Pre-train through the training helper every stage uses (training.checkpointed): its one
    checkpoint, the last step, becomes `model/`; the helper writes the loss log."""
    b = ctx.cfg.base
    tok = ctx.tokenizer
    texts = lm_texts(ctx.rows("world", "pretrain.jsonl"), "pretrain.jsonl")
    batches = LMBatches(texts, tok, b.train.max_length, seed=ctx.world_seed)
    threads = base_threads(ctx)
    with torch_threads(threads):
        result, _ = train_with_checkpoints(
            folder, lambda _: build_tiny_model(b.model, tok, seed=ctx.world_seed).to(ctx.device), batches, b.train,
            [b.train.steps], seed=ctx.world_seed, reporter=ctx.reporter, title="base pretrain",
            save_checkpoint=lambda m, target, full_state: save_model(m, tok, target, replace=True, state_dict=full_state))
    if not is_main():  # the group trained together; the main process saves
        return {}
    keep_last_checkpoint_as(folder, "model")
    return {"seconds": result.seconds, "tokens_per_second": result.tokens_per_second, "processes": result.processes,
            "threads": threads, "final_loss": result.losses[-1] if result.losses else None}
