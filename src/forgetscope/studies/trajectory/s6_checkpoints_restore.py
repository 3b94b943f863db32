"""Stage 6: restore every checkpoint, and the base as the control, with every configured restorer
(restoration/: LM training, weight interpolation, ...); probe again. Each (restorer, step) is a unit
named `<condition>-step-NNNNNN` with its own completion record and lock, so several processes or
machines can share the work on one run store.
"""

from __future__ import annotations

import gc
from functools import cache

from forgetscope.data import lm_texts
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.restoration import RestoreJob, build_restorers
from forgetscope.studies.stages import run_stage
from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.studies.trajectory.probing import write_evaluation
from forgetscope.training.checkpoints import step_name
from forgetscope.views import RESTORE


def restore_checkpoints(ctx: SeedContext) -> None:
    stage = ctx.stage(RESTORE)
    cfg = ctx.cfg.restore
    units = {f"{r.condition}-{step_name(s)}": (r, s)
             for r in build_restorers(cfg.restorers) for s in [0, *ctx.steps] if s > 0 or r.restores_base}

    @cache
    def texts() -> list[str]:
        return lm_texts(ctx.rows(cfg.data, "restore.jsonl"), ctx.label(cfg.data, "restore.jsonl"))

    job = RestoreJob(tokenizer=ctx.tokenizer, texts=texts, train=cfg.train, base_path=ctx.base_path, seed=ctx.seed)

    def restore(unit: str) -> None:
        restorer, step = units[unit]
        model = restorer.restore(ctx.load_step(step), job)
        scorer = NativeScorer(model, ctx.tokenizer, batch_size=ctx.cfg.eval.batch_size)
        write_evaluation(ctx, scorer, stage.path / unit, condition=restorer.condition, step=step)
        del model, scorer
        gc.collect()

    run_stage(stage, restore, list(units), reporter=ctx.reporter, title="restore", record={"units": list(units)})
