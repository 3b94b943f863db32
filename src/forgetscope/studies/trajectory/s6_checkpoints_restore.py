"""Stage 6: restore every checkpoint, and the base as the control, with every configured restorer
(restoration/: LM training, weight interpolation, ...); probe again. Each (restorer, step) is a unit
named `<condition>-step-NNNNNN` with its own completion record and lock, so several processes or
machines can share the work on one run store. A restorer with a `curve` scores the primary probe
part of the way through (`<unit>.curve.parquet`): the restoration curve. A restorer that `continues`
the budget-1 one of its kind runs in that restorer's unit, on the model it has just restored and
scored, and writes its own condition's results there.
"""

from __future__ import annotations

import gc
from functools import cache

import pandas as pd

from forgetscope.data import lm_texts
from forgetscope.evaluation.probe_runner import run_probes
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.restoration import RestoreJob, build_restorers
from forgetscope.store import atomic_write_bytes
from forgetscope.studies.stages import run_stage
from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.studies.trajectory.probing import write_evaluation
from forgetscope.training.checkpoints import step_name
from forgetscope.views import RESTORE_STAGE


def restore_checkpoints(ctx: SeedContext) -> None:
    stage = ctx.stage(RESTORE_STAGE)
    cfg = ctx.cfg.restore
    restorers = build_restorers(cfg.restorers)
    continued = {id(r): [c for c in restorers if c.continues and c.name == r.name] for r in restorers
                 if not r.continues and r.budget == 1}
    units = {f"{r.condition}-{step_name(s)}": (r, s)
             for r in restorers if not r.continues for s in [0, *ctx.steps] if s > 0 or r.restores_base}

    @cache
    def texts() -> list[str]:
        return lm_texts(ctx.rows(cfg.data, "restore.jsonl"), ctx.label(cfg.data, "restore.jsonl"))

    curve_items = [it for it in ctx.probe_items if it.probe == ctx.cfg.analysis.primary_probe]

    def restore(unit: str) -> None:
        restorer, step = units[unit]
        curve: list[dict] = []

        def score_curve(model, fraction: float, restore_step: int) -> None:
            was_training = model.training
            rows = run_probes(NativeScorer(model, ctx.tokenizer, batch_size=ctx.cfg.eval.batch_size), curve_items, ctx.probe_settings)
            model.train(was_training)
            curve.extend({"seed": ctx.seed, "condition": restorer.condition, "step": step, "fraction": fraction,
                          "restore_step": restore_step, "item_id": r["item_id"], "probe": r["probe"], "score": r["score"]}
                         for r in rows)

        job = RestoreJob(tokenizer=ctx.tokenizer, texts=texts, train=cfg.train, base_path=ctx.base_path, seed=ctx.seed,
                         curve=score_curve if curve_items else None)
        model = restorer.restore(ctx.load_step(step), job)
        if curve:
            atomic_write_bytes(stage.path / f"{unit}.curve.parquet", pd.DataFrame(curve).to_parquet(index=False))
        scorer = NativeScorer(model, ctx.tokenizer, batch_size=ctx.cfg.eval.batch_size)
        write_evaluation(ctx, scorer, stage.path / unit, condition=restorer.condition, step=step)
        for more in continued.get(id(restorer), []):
            model = more.continue_restoration(model, job)
            scorer = NativeScorer(model, ctx.tokenizer, batch_size=ctx.cfg.eval.batch_size)
            write_evaluation(ctx, scorer, stage.path / f"{more.condition}-{step_name(step)}", condition=more.condition, step=step)
        del model, scorer
        gc.collect()

    run_stage(stage, restore, list(units), reporter=ctx.reporter, title="restore", record={"units": list(units)})
