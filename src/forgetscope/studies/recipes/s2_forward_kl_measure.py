"""Stage 2: the forward KL, KL(base || checkpoint), of every recipe's checkpoints on the fine-tuning
data: mean nats per trained token over `analysis.kl_examples` fine-tuning examples, teacher-forced
(RL's Razor: forgetting tracks this KL on the new task's data). One unit per recipe, per seed,
reading each recipe's finished trajectory run through forgetscope.views."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from forgetscope.distributed import device_for
from forgetscope.execution import Reporter
from forgetscope.store import RunStore, atomic_write_bytes
from forgetscope.studies.recipes.config import RecipesConfig
from forgetscope.studies.recipes.inputs import KL_FILE, KL_STAGE, RecipeInputs, recipe_dir
from forgetscope.studies.stages import run_stage
from forgetscope.training.regularizers import token_kl_sum
from forgetscope.views import TrajectoryRun


def measure_forward_kl(cfg: RecipesConfig, run_dir: str, seed: int, reporter: Reporter) -> int:
    stage = RunStore(run_dir).stage(KL_STAGE, seed)
    names = [r.name for r in cfg.recipes]
    run_stage(stage, lambda name: _measure(cfg, run_dir, name, seed, stage.path), names, reporter=reporter, title="forward KL",
              record={"units": names})
    return seed


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


def _measure(cfg: RecipesConfig, run_dir: str, name: str, seed: int, folder: Path) -> dict:
    sub = recipe_dir(run_dir, name)
    inputs, run = RecipeInputs(cfg, sub, seed), TrajectoryRun(sub)
    device = device_for(cfg.runtime.device)
    tok = inputs.tokenizer()
    batches = inputs.finetune_batches(tok, seed)
    indices = batches.global_indices(0, min(cfg.analysis.kl_examples, len(batches)))  # a seeded draw without repeats
    base = inputs.load(inputs.base_path, device).eval()
    rows = []
    for step in run.steps(seed):
        model = inputs.load(run.model_path(seed, step), device).eval()
        kl, tokens = forward_kl(model, base, batches, indices, cfg.eval.batch_size, device)
        rows.append({"recipe": name, "seed": seed, "step": step, "forward_kl": kl, "tokens": tokens})
    atomic_write_bytes(folder / f"{name}.{KL_FILE}", pd.DataFrame(rows).to_parquet(index=False))
    return {"steps": len(rows)}
