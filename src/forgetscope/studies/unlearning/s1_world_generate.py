"""Stage 1: the fact world (from `base_seed` when the seeds share it) and its forget split: the oracle's
corpus, the texts unlearning and relearning train on, and the probe items (world/forget.py). On a
pretrained base the same files from the probe file's sets instead (probe_sets.py)."""

from __future__ import annotations

from dataclasses import asdict

from forgetscope.store import atomic_write_json
from forgetscope.studies.stages import run_stage
from forgetscope.studies.unlearning.context import WORLD_STAGE, SeedContext
from forgetscope.world import forget as W
from forgetscope.world.build import write_jsonl, write_world


def generate_world(ctx: SeedContext) -> None:
    stage = ctx.shared_stage(WORLD_STAGE)
    if ctx.cfg.pretrained:
        run_stage(stage, lambda _: write_probe_sets(ctx, stage.path), fresh=True)
        return

    def work(_: str) -> dict:
        ctx.reporter.start("world", 1)
        world, split = ctx.world, ctx.split
        write_world(world, stage.path)
        world.tokenizer().save_pretrained(stage.path / "tokenizer")
        write_jsonl(stage.path / "oracle_pretrain.jsonl", W.oracle_corpus(world, split.forget))
        write_jsonl(stage.path / "forget.jsonl", W.biographies(world, split.forget))
        write_jsonl(stage.path / "retain.jsonl", W.biographies(world, split.retain))
        write_jsonl(stage.path / "idk.jsonl", W.idk_examples(split.forget))
        for k, fold in enumerate(split.folds):
            rest = [p for p in split.forget if p not in fold]
            write_jsonl(stage.path / f"forget_fold{k}.jsonl", W.biographies(world, rest))
        items = (W.cloze_items(split.forget, "forget") + W.cloze_items(split.retain, "retain")
                 + W.cloze_items(split.general, "general"))
        if ctx.cfg.conjugate:
            items += W.cloze_items(split.forget, "forget_l2", world.l2)
        write_jsonl(stage.path / "unlearning_probes.jsonl", items)
        atomic_write_json(stage.path / "split.json", {
            "forget": [asdict(p) for p in split.forget], "retain": [p.id for p in split.retain],
            "general": [p.id for p in split.general], "folds": [[p.id for p in f] for f in split.folds]})
        ctx.reporter.advance()
        return {"forget_people": len(split.forget), "retain_people": len(split.retain), "probe_items": len(items)}

    run_stage(stage, work, fresh=True)


def write_probe_sets(ctx: SeedContext, folder) -> dict:
    """A pretrained base's sets: the probe items by set (and the forget set under each transform), the
    forget, retain and idk texts, each fold's complement and the folds (item ids)."""
    from forgetscope.evaluation.items import load_items
    from forgetscope.studies.unlearning import probe_sets as P

    cfg = ctx.cfg
    items = P.set_items(load_items(cfg.probes.path), cfg.probes)
    by = {s: [it for it in items if it.probe == s] for s in P.SETS}
    forget = by["forget"]
    for name in cfg.transforms:
        items += P.transformed(forget, name)
    if cfg.translation is not None:
        items += P.translated(forget, P.translation_rows(cfg.translation.path), cfg.translation.language, cfg.translation.path)
    folds = P.folds(forget, cfg.forget.folds)
    write_jsonl(folder / "unlearning_probes.jsonl", [it.model_dump(mode="json") for it in items])
    for s in ("forget", "retain"):
        write_jsonl(folder / f"{s}.jsonl", [{"text": P.fact_text(it)} for it in by[s]])
    write_jsonl(folder / "idk.jsonl", [{"prompt": it.prompt, "completion": P.IDK} for it in forget])
    for k, fold in enumerate(folds):
        write_jsonl(folder / f"forget_fold{k}.jsonl", [{"text": P.fact_text(it)} for it in forget if it.id not in set(fold)])
    atomic_write_json(folder / "folds.json", folds)
    return {"forget_items": len(forget), "retain_items": len(by["retain"]), "probe_items": len(items)}
