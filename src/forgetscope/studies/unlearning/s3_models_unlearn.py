"""Stage 3: each built-in unlearning method applied to the base (one unit per method): load the base,
train on the forget set (and retain text) for the method's steps, save the unlearned model."""

from __future__ import annotations

from forgetscope.studies.stages import run_stage
from forgetscope.studies.unlearning.context import UNLEARN_STAGE, SeedContext


def unlearn_models(ctx: SeedContext) -> None:
    stage = ctx.stage(UNLEARN_STAGE)
    methods = {m.condition: m for m in ctx.cfg.methods}

    def work(name: str) -> dict:
        from forgetscope.models import save_model
        from forgetscope.studies.unlearning.methods import unlearn

        method = methods[name]
        if method.name == "idk":
            forget = [(r["prompt"], r["completion"]) for r in ctx.rows("idk")]
        else:
            forget = [r["text"] for r in ctx.rows("forget")]
        retain = [r["text"] for r in ctx.rows("retain")]
        model = ctx.load("base")
        result = unlearn(model, ctx.tokenizer, method, forget, retain, seed=ctx.seed, device=ctx.device)
        save_model(model, ctx.tokenizer, stage.path / name, replace=True)
        return {"seconds": result.seconds, "first_loss": result.losses[0], "final_loss": result.losses[-1]}

    run_stage(stage, work, list(methods), reporter=ctx.reporter, title="unlearn")
