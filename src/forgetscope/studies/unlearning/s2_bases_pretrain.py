"""Stage 2: the base (the world's whole corpus), the oracle (the same, less the forget people's
biographies; the control) and, with `oracle.audit`, a second oracle from another init seed (audited
like an unlearned model). Each cached by a hash of its corpus, vocabulary, model, training and seed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from forgetscope import cache
from forgetscope.config import config_hash
from forgetscope.studies.stages import run_stage
from forgetscope.studies.unlearning.context import BASES_STAGE, CONTROL, SeedContext

BASE_FORMAT = 1  # bump when the pre-training code changes what a base is
CORPUS = {"base": "pretrain.jsonl", CONTROL: "oracle_pretrain.jsonl", "oracle": "oracle_pretrain.jsonl"}
AUDIT_SEED_OFFSET = 1_000  # the audited oracle's init and batch seed: another draw of the same recipe


def bases(ctx: SeedContext) -> list[str]:
    out = ["base"] + ([CONTROL] if ctx.cfg.oracle.path is None else [])
    return out + (["oracle"] if ctx.cfg.oracle.audit else [])


def init_seed(ctx: SeedContext, name: str) -> int:
    return ctx.world_seed + (AUDIT_SEED_OFFSET if name == "oracle" else 0)


def cache_key(ctx: SeedContext, name: str) -> str:
    digest = hashlib.sha256()
    for f in (ctx.world_dir / CORPUS[name], ctx.world_dir / "tokenizer" / "tokenizer.json"):
        digest.update(f.read_bytes())
    b = ctx.cfg.base
    return config_hash(digest.hexdigest(), b.model, b.train, init_seed(ctx, name), BASE_FORMAT, ctx.cfg.runtime.threads)


def pretrain_bases(ctx: SeedContext) -> None:
    if ctx.cfg.pretrained:  # the base is given, the oracle too (or none)
        return
    stage = ctx.shared_stage(BASES_STAGE)

    def work(name: str) -> dict:
        folder = stage.path / name
        folder.mkdir(parents=True, exist_ok=True)
        return cache.cached_or_build("unlearning-bases", cache_key(ctx, name), folder, lambda f: _pretrain(ctx, name, f),
                                     configured=ctx.cfg.runtime.cache_dir)

    run_stage(stage, work, bases(ctx), reporter=ctx.reporter, title="bases")


def _pretrain(ctx: SeedContext, name: str, folder: Path) -> dict:
    from forgetscope.data import lm_texts
    from forgetscope.models import build_tiny_model, save_model
    from forgetscope.training import LMBatches
    from forgetscope.training.checkpointed import keep_last_checkpoint_as, train_with_checkpoints

    b, tok, seed = ctx.cfg.base, ctx.tokenizer, init_seed(ctx, name)
    texts = lm_texts(ctx.rows(CORPUS[name][: -len(".jsonl")]), CORPUS[name])
    batches = LMBatches(texts, tok, b.train.max_length, seed=seed)
    result, _ = train_with_checkpoints(
        folder, lambda _: build_tiny_model(b.model, tok, seed=seed).to(ctx.device), batches, b.train, [b.train.steps],
        seed=seed, reporter=ctx.reporter, title=f"pretrain {name}",
        save_checkpoint=lambda m, target, full_state: save_model(m, tok, target, replace=True, state_dict=full_state))
    keep_last_checkpoint_as(folder, "model")
    return {"seconds": result.seconds, "final_loss": result.losses[-1] if result.losses else None, "documents": len(texts)}
