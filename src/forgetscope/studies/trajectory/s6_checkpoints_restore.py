"""Stage 6: restore every checkpoint, and the base as the control, with the same budget; probe again.

Restorers: LM training on restoration text (condition "restored") and weight interpolation toward
the base (condition "interp-<ratio>"). Each (restorer, step) is a unit with its own completion
record and lock, so several processes or machines can share the work on one run store.
"""

from __future__ import annotations

import gc

from forgetscope.data import lm_texts
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.restoration import interpolate_toward_base, restore_by_lm_training
from forgetscope.studies.trajectory.context import SeedContext, step_name
from forgetscope.studies.trajectory.s4_checkpoints_evaluate import write_evaluation


def restoration_units(ctx: SeedContext) -> list[tuple[str, str, float | None, int]]:
    """(unit name, condition, ratio, step) for every restoration to run."""
    steps = [0, *ctx.steps]
    units = [(f"restored-{step_name(s)}", "restored", None, s) for s in steps]
    for r in ctx.cfg.restore.interpolation:
        units += [(f"interp-{r:.2f}-{step_name(s)}", f"interp-{r:.2f}", r, s) for s in steps if s > 0]
    return units


def restore_checkpoints(ctx: SeedContext) -> None:
    stage = ctx.stage("6_restore")
    if stage.done:
        return
    folder = stage.start()
    cfg = ctx.cfg.restore
    units = {u[0]: u for u in restoration_units(ctx)}
    texts = lm_texts(ctx.rows(cfg.data, "restore.jsonl"), ctx.source(cfg.data, "restore.jsonl"))

    def restore(unit: str) -> None:
        _, condition, ratio, step = units[unit]
        model = ctx.load(ctx.model_path(step))
        if ratio is None:
            model, _ = restore_by_lm_training(model, ctx.tokenizer, texts, cfg.train, seed=ctx.seed)
        else:
            interpolate_toward_base(model, ctx.base_path, ratio)
        scorer = NativeScorer(model, ctx.tokenizer, batch_size=ctx.cfg.eval.batch_size)
        write_evaluation(ctx, scorer, folder / unit, condition=condition, step=step)
        stage.mark_unit_done(unit)
        del model, scorer
        gc.collect()

    ctx.reporter.start("restore", len(units))
    stage.run_units(list(units), restore, on_unit=ctx.reporter.advance)
    stage.mark_done({"units": list(units)})
