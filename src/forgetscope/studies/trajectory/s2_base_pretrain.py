"""Stage 2: the base model. A tiny base is pre-trained on the world's corpus, or taken from the cache
(keyed by a hash of the world's pre-training part, the model, the training config and the seed);
a pretrained base is only checked here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from forgetscope import cache
from forgetscope.config import config_hash
from forgetscope.data import lm_texts
from forgetscope.distributed import from_main, group_exclusive, is_main
from forgetscope.models import build_tiny_model, save_model
from forgetscope.models.loading import check_model_folder
from forgetscope.store import atomic_write_bytes
from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.training import LMBatches, train

BASE_FORMAT = 1  # bump when the pre-training code changes what a base is


def base_cache_key(ctx: SeedContext) -> str:
    """Hash of what the base is made from: the corpus and vocabulary as generated (so any change to
    the world generator invalidates the cache), the model and training configs, seed and threads."""
    digest = hashlib.sha256()
    for f in (ctx.world_dir / "pretrain.jsonl", ctx.world_dir / "tokenizer" / "tokenizer.json"):
        digest.update(f.read_bytes())
    b = ctx.cfg.base
    return config_hash(digest.hexdigest(), b.model, b.pretrain, ctx.seed, BASE_FORMAT, ctx.cfg.runtime.threads)


def pretrain_base(ctx: SeedContext) -> None:
    """Under a launcher the whole process group pre-trains together; the main process writes."""
    stage = ctx.stage("2_base")
    with group_exclusive(stage) as run:
        if run and ctx.cfg.base.kind == "pretrained":
            if is_main():
                _check_pretrained(ctx, stage)
        elif run:
            _tiny_base(ctx, stage)


def _check_pretrained(ctx: SeedContext, stage) -> None:
    b = ctx.cfg.base
    if Path(b.path).expanduser().exists() or b.path.startswith((".", "/", "~")):
        check_model_folder(Path(b.path).expanduser())
    ctx.tokenizer  # noqa: B018 - fails early, with a clear message, on a folder without a tokenizer
    stage.reset()
    stage.mark_done({"model": b.path, "pretrained": True})


def _tiny_base(ctx: SeedContext, stage) -> None:
    b = ctx.cfg.base
    key = base_cache_key(ctx)
    hit = from_main(cache.cached("bases", key, ctx.cfg.runtime.cache_dir))
    if hit is not None:
        if is_main():
            ctx.reporter.start("base (cached)", 1)
            cache.restore_into_stage(hit, stage, key)
            ctx.reporter.advance()
        return
    folder = stage.reset() if is_main() else stage.path
    tok = ctx.tokenizer
    model = build_tiny_model(b.model, tok, seed=ctx.seed).to(ctx.device)
    texts = lm_texts(ctx.rows("world", "pretrain.jsonl"), "pretrain.jsonl")
    batches = LMBatches(texts, tok, b.pretrain.max_length, seed=ctx.seed)
    ctx.reporter.start("base pretrain", b.pretrain.steps)
    result = train(model, batches, b.pretrain, seed=ctx.seed, on_step=lambda s, l: ctx.reporter.advance())
    if not is_main():  # the group trained together; the main process saves
        return
    save_model(model, tok, folder / "model")
    log = pd.DataFrame({"step": range(1, len(result.losses) + 1), "loss": result.losses})
    atomic_write_bytes(folder / "train_log.parquet", log.to_parquet(index=False))
    cache.put("bases", key, folder, ctx.cfg.runtime.cache_dir)
    stage.mark_done({"cache_key": key, "from_cache": False, "seconds": result.seconds, "tokens_per_second": result.tokens_per_second,
                     "processes": result.processes,
                     "final_loss": result.losses[-1] if result.losses else None})
