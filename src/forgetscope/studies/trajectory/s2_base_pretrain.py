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
from forgetscope.distributed import is_main
from forgetscope.models import build_tiny_model, save_model
from forgetscope.studies.stages import run_stage
from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.training import LMBatches, train
from forgetscope.training.checkpointed import write_train_log
from forgetscope.views import BASE_STAGE

BASE_FORMAT = 1  # bump when the pre-training code changes what a base is


def base_cache_key(ctx: SeedContext) -> str:
    """Hash of what the base is made from: the corpus and vocabulary as generated (so any change to
    the world generator invalidates the cache), the model and training configs, seed and threads."""
    digest = hashlib.sha256()
    for f in (ctx.world_dir / "pretrain.jsonl", ctx.world_dir / "tokenizer" / "tokenizer.json"):
        digest.update(f.read_bytes())
    b = ctx.cfg.base
    return config_hash(digest.hexdigest(), b.model, b.train, ctx.world_seed, BASE_FORMAT, ctx.cfg.runtime.threads)


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
    b = ctx.cfg.base
    tok = ctx.tokenizer
    model = build_tiny_model(b.model, tok, seed=ctx.world_seed).to(ctx.device)
    texts = lm_texts(ctx.rows("world", "pretrain.jsonl"), "pretrain.jsonl")
    batches = LMBatches(texts, tok, b.train.max_length, seed=ctx.world_seed)
    ctx.reporter.start("base pretrain", b.train.steps)
    result = train(model, batches, b.train, seed=ctx.world_seed, on_step=lambda s, l: ctx.reporter.advance())
    if not is_main():  # the group trained together; the main process saves
        return {}
    save_model(model, tok, folder / "model")
    write_train_log(folder, list(enumerate(result.losses, 1)))
    return {"seconds": result.seconds, "tokens_per_second": result.tokens_per_second, "processes": result.processes,
            "final_loss": result.losses[-1] if result.losses else None}
