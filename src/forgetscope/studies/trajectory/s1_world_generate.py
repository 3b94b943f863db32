"""Stage 1: generate the fact world (data files and word-level tokenizer) for this seed (from `base_seed`
when the seeds share one world)."""

from __future__ import annotations

from forgetscope.studies.stages import run_stage
from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.views import WORLD_STAGE
from forgetscope.world.build import build_world, write_world


def generate_world(ctx: SeedContext) -> None:
    if not ctx.cfg.uses_world:
        return
    stage = ctx.stage(WORLD_STAGE)

    def work(_: str) -> dict:
        ctx.reporter.start("world", 1)
        world = build_world(ctx.cfg.world, ctx.world_seed)
        write_world(world, stage.path)
        world.tokenizer().save_pretrained(stage.path / "tokenizer")
        ctx.reporter.advance()
        return {"people": len(world.people), "pretrain_docs": len(world.pretrain), "ift_examples": len(world.ift),
                "probe_items": len(world.probes)}

    run_stage(stage, work, fresh=True)
