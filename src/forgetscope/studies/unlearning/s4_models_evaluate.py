"""Stage 4: every model before relearning (base, the control oracle, the audited oracle, each unlearned
model) on every probe: forget, retain, general, and the forget set in L2 or under each prompt
transform (the prompt-side attacks)."""

from __future__ import annotations

import pandas as pd

from forgetscope.store import atomic_write_bytes
from forgetscope.studies.stages import run_stage
from forgetscope.studies.unlearning.context import EVALUATE_STAGE, SeedContext
from forgetscope.studies.unlearning.probing import probe_rows


def evaluate_models(ctx: SeedContext) -> None:
    stage = ctx.stage(EVALUATE_STAGE)
    models = ["base", *ctx.relearned]

    def work(name: str) -> dict:
        items = [it for probe in ctx.items.values() for it in probe]
        table = pd.DataFrame(probe_rows(ctx.load(name), ctx.tokenizer, items, ctx.cfg.eval_batch_size))
        table.insert(0, "model", name)
        atomic_write_bytes(stage.path / f"{name}.parquet", table.to_parquet(index=False))
        return {"items": len(table)}

    run_stage(stage, work, models, reporter=ctx.reporter, title="evaluate")
