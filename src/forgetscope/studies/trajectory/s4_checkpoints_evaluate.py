"""Stage 4: probe the base and every checkpoint; bits/byte on held-out text; store each checkpoint's
own responses and log-probabilities for the pattern-shift stage. One unit per model."""

from __future__ import annotations

import gc

from forgetscope.evaluation.pattern_shift import checkpoint_pass
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.studies.stages import run_stage
from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.studies.trajectory.probing import write_evaluation
from forgetscope.training.checkpoints import step_name
from forgetscope.views import EVALUATE_STAGE


def evaluate_checkpoints(ctx: SeedContext) -> None:
    stage = ctx.stage(EVALUATE_STAGE)
    steps = {step_name(s): s for s in [0, *ctx.steps]}

    def evaluate(unit: str) -> None:
        step = steps[unit]
        model = ctx.load_step(step, for_probing=True)
        scorer = NativeScorer(model, ctx.tokenizer, batch_size=ctx.cfg.eval.batch_size)
        write_evaluation(ctx, scorer, stage.path / unit, condition="checkpoint", step=step)
        for fmt, prompts in ctx.pattern_prompts.items():
            checkpoint_pass(scorer, prompts, ctx.cfg.eval.pattern_max_new_tokens, stage.path / f"{unit}.pattern-{fmt}.safetensors")
        del model, scorer
        gc.collect()

    run_stage(stage, evaluate, list(steps), reporter=ctx.reporter, title="evaluate", record={"steps": list(steps.values())})
