"""Stage 1: generate the fact world (data files and word-level tokenizer) for this seed."""

from __future__ import annotations

from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.world.build import build_world, write_world


def generate_world(ctx: SeedContext) -> None:
    stage = ctx.stage("1_world")
    if stage.done or not ctx.cfg.uses_world:
        return
    with stage.exclusive() as mine:
        if not mine:
            return
        ctx.reporter.start("world", 1)
        folder = stage.reset()
        world = build_world(ctx.cfg.world, ctx.seed)
        write_world(world, folder)
        world.tokenizer().save_pretrained(folder / "tokenizer")
        stage.mark_done({"people": len(world.people), "pretrain_docs": len(world.pretrain), "ift_examples": len(world.ift),
                         "probe_items": len(world.probes)})
        ctx.reporter.advance()
