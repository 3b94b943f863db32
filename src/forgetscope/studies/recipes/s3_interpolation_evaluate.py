"""Stage 3: post-hoc weight interpolation swept as its own curve (WiSE-FT; Lin et al. 2024): for each
swept recipe's last checkpoint and each alpha of `interpolation.alphas`, the model
theta(alpha) = theta_base + alpha (theta_checkpoint - theta_base) (restoration's interpolation toward the
base, at ratio 1 - alpha) probed with every probe item as the checkpoints were. One unit per recipe,
per seed: `<recipe>.interpolation.parquet`, one row per alpha and item (score, answer log-probability). Not restored: the curve has
target gain and forgetting, not the pseudo/actual split (each alpha would cost a restoration)."""

from __future__ import annotations

import gc
from pathlib import Path

import pandas as pd

from forgetscope.distributed import device_for
from forgetscope.evaluation.probe_runner import run_probes
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.execution import Reporter
from forgetscope.restoration.interpolation import interpolate_toward_base
from forgetscope.store import RunStore, atomic_write_bytes
from forgetscope.studies.recipes.config import RecipesConfig
from forgetscope.studies.recipes.inputs import INTERP_FILE, INTERP_STAGE, RecipeInputs, recipe_dir
from forgetscope.studies.stages import run_stage
from forgetscope.views import TrajectoryRun


def evaluate_interpolation(cfg: RecipesConfig, run_dir: str, seed: int, reporter: Reporter) -> int:
    names = [r.name for r in cfg.swept]
    if names:
        stage = RunStore(run_dir).stage(INTERP_STAGE, seed)
        run_stage(stage, lambda name: _sweep(cfg, run_dir, name, seed, stage.path), names, reporter=reporter,
                  title="interpolation", record={"units": names, "alphas": cfg.interpolation.alphas})
    return seed


def _sweep(cfg: RecipesConfig, run_dir: str, name: str, seed: int, folder: Path) -> dict:
    sub = recipe_dir(run_dir, name)
    inputs, run = RecipeInputs(cfg, sub, seed), TrajectoryRun(sub)
    device = device_for(cfg.runtime.device)
    tok, items, settings = inputs.tokenizer(), inputs.probe_items(), inputs.probe_settings()
    step = max(run.steps(seed))
    rows = []
    for alpha in cfg.interpolation.alphas:
        model = inputs.load(run.model_path(seed, step), device).eval()
        interpolate_toward_base(model, inputs.base_path, 1.0 - alpha)
        scored = run_probes(NativeScorer(model, tok, batch_size=cfg.eval.batch_size), items, settings)
        rows += [{"recipe": name, "seed": seed, "step": step, "alpha": alpha, "item_id": r["item_id"], "probe": r["probe"],
                  "score": r["score"], "answer_logprob": r.get("answer_logprob")} for r in scored]
        del model
        gc.collect()
    atomic_write_bytes(folder / f"{name}.{INTERP_FILE}", pd.DataFrame(rows).to_parquet(index=False))
    return {"step": step, "alphas": cfg.interpolation.alphas}
