"""Stage 4: every model before relearning (base, the control oracle, the audited oracle, each unlearned
model) on every probe: forget, retain, general, and the forget set in L2 or under each prompt
transform (the prompt-side attacks); with general_tasks also on those lm-eval tasks, one row per
document and metric in <model>.general_tasks.parquet (relearned models are not: stage 5)."""

from __future__ import annotations

import pandas as pd

from forgetscope.store import atomic_write_bytes
from forgetscope.studies.stages import run_stage
from forgetscope.studies.unlearning.context import EVALUATE_STAGE, TASKS_SUFFIX, SeedContext
from forgetscope.studies.unlearning.probing import probe_rows


def evaluate_models(ctx: SeedContext) -> None:
    stage = ctx.stage(EVALUATE_STAGE)
    models = ["base", *ctx.relearned]

    def work(name: str) -> dict:
        items = [it for probe in ctx.items.values() for it in probe]
        model = ctx.load(name)
        table = pd.DataFrame(probe_rows(model, ctx.tokenizer, items, ctx.cfg.eval_batch_size))
        table.insert(0, "model", name)
        atomic_write_bytes(stage.path / f"{name}.parquet", table.to_parquet(index=False))
        record = {"items": len(table)}
        if ctx.cfg.general_tasks:
            docs = task_rows(ctx, model)
            docs.insert(0, "model", name)
            atomic_write_bytes(stage.path / f"{name}{TASKS_SUFFIX}", docs.to_parquet(index=False))
            record["task_rows"] = len(docs)
        return record

    run_stage(stage, work, models, reporter=ctx.reporter, title="evaluate")


def task_rows(ctx: SeedContext, model) -> pd.DataFrame:
    """The model on general_tasks through lm-eval (the path `forgetscope eval` and the trajectory take)."""
    from forgetscope.evaluation.lm_eval_backend import evaluate_with_lm_eval

    rows, _raw = evaluate_with_lm_eval(model, ctx.tokenizer, (), batch_size=ctx.cfg.eval_batch_size,
                                       extra_tasks=ctx.cfg.general_tasks, include_path=ctx.cfg.general_tasks_include_path)
    return pd.DataFrame(rows, columns=["item_id", "probe", "kind", "metric", "score", "output"])
