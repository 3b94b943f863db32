"""The forward KL, KL(base || checkpoint), of every checkpoint on the fine-tuning data: mean nats per
trained token of `analysis.kl_examples` fine-tuning examples, teacher-forced (RL's Razor: forgetting
tracks this KL on the new task's data). A stage of each recipe's run, after the trajectory's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from forgetscope.store import atomic_write_bytes
from forgetscope.studies.stages import run_stage
from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.studies.trajectory.s3_model_finetune import finetune_batches
from forgetscope.training.regularizers import token_kl_sum

KL_STAGE = "7_forward_kl"
KL_FILE = "forward_kl.parquet"


def measure_forward_kl(ctx: SeedContext, examples: int) -> None:
    stage = ctx.stage(KL_STAGE)
    run_stage(stage, lambda _: _measure(ctx, stage.path, examples), fresh=True)


def forward_kl(model, base, batches, indices: list[int], batch_size: int, device) -> tuple[float, int]:
    """Mean KL(base || model) per trained token over the examples `indices`, and the token count."""
    total, count = 0.0, 0
    for i in range(0, len(indices), batch_size):
        batch = {k: v.to(device) for k, v in batches.collate(indices[i : i + batch_size]).items()}
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        with torch.no_grad():
            kl, n = token_kl_sum(model(**inputs).logits, base(**inputs).logits, batch["labels"])
        total, count = total + float(kl), count + int(n)
    return (total / count if count else float("nan")), count


def _measure(ctx: SeedContext, folder: Path, examples: int) -> None:
    batches = finetune_batches(ctx)
    indices = batches.global_indices(0, min(examples, len(batches)))  # a seeded draw without repeats
    base = ctx.load(ctx.base_path).eval()
    ctx.reporter.start("forward KL", len(ctx.steps))
    rows = []
    for step in ctx.steps:
        model = ctx.load_step(step).eval()
        kl, tokens = forward_kl(model, base, batches, indices, ctx.cfg.eval.batch_size, ctx.device)
        rows.append({"seed": ctx.seed, "step": step, "forward_kl": kl, "tokens": tokens})
        ctx.reporter.advance()
    atomic_write_bytes(folder / KL_FILE, pd.DataFrame(rows).to_parquet(index=False))
