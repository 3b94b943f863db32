"""Stage 5: relearning attacks on the control oracle and every audited model, one unit per model,
attack and fold: train on the attack's text with the same budget for every model, probing the forget
set (the attack's probed part) and the retain set at each point of the budget curve."""

from __future__ import annotations

import pandas as pd

from forgetscope.store import atomic_write_bytes
from forgetscope.studies.stages import run_stage
from forgetscope.studies.unlearning.context import RELEARN_STAGE, SeedContext
from forgetscope.studies.unlearning.probing import probe_rows


def attack_runs(ctx: SeedContext) -> list[tuple[str, int | None]]:
    """(attack, fold) pairs: forget_folds once per fold, the others once."""
    out: list[tuple[str, int | None]] = []
    for a in ctx.cfg.relearn.attacks:
        out += [(a, k) for k in range(ctx.cfg.forget.folds)] if a == "forget_folds" else [(a, None)]
    return out


def unit_name(model: str, attack: str, fold: int | None) -> str:
    return f"{model}~{attack}" + ("" if fold is None else f"~{fold}")


def attack_texts(ctx: SeedContext, attack: str, fold: int | None) -> list[str]:
    if attack == "text":
        data = ctx.cfg.relearn.data
        if data == "world":
            return [r["text"] for r in ctx.rows("restore")]
        from forgetscope.data import lm_texts, load_rows

        return lm_texts(load_rows(data), data)
    if attack == "forget_folds":
        return [r["text"] for r in ctx.rows(f"forget_fold{fold}")]
    return [r["text"] for r in ctx.rows("retain")]


def relearn_models(ctx: SeedContext) -> None:
    stage = ctx.stage(RELEARN_STAGE)
    units = {unit_name(m, a, k): (m, a, k) for m in ctx.relearned for a, k in attack_runs(ctx)}

    def work(unit: str) -> dict:
        from forgetscope.training import LMBatches
        from forgetscope.training.loop import train

        model_name, attack, fold = units[unit]
        cfg = ctx.cfg.relearn.train
        items = [it for p in ("forget", "retain") for it in ctx.items[p]]  # general: before relearning only (stage 4)
        if fold is not None:  # probe only the held-out part of the forget set
            items = [it for it in items if it.probe != "forget" or ctx.in_fold(it, fold)]
        model = ctx.load(model_name)
        rows: list[dict] = []

        def probe(m, step: int, *_args, **_kw) -> None:
            rows.extend({"step": step, **r} for r in probe_rows(m, ctx.tokenizer, items, ctx.cfg.eval_batch_size))

        batches = LMBatches(attack_texts(ctx, attack, fold), ctx.tokenizer, cfg.max_length, seed=ctx.seed)
        result = train(model, batches, cfg, seed=ctx.seed, save_steps=ctx.cfg.relearn.steps(), save=probe, local=True, device=ctx.device)
        table = pd.DataFrame(rows)
        for col, value in (("model", model_name), ("attack", attack), ("fold", -1 if fold is None else fold)):
            table.insert(0, col, value)
        atomic_write_bytes(stage.path / f"{unit}.parquet", table.to_parquet(index=False))
        return {"seconds": result.seconds, "final_loss": result.losses[-1]}

    run_stage(stage, work, list(units), reporter=ctx.reporter, title="relearn")
