"""Stage 3: a fixed evaluation set per seed (`eval.prompts` prompts from each family). One unit for
the exact baselines and the closeness of each prompt to the discrete set; one unit per model (the
base and every checkpoint): its prediction at every k, on the prompts as they are (gamma = 1) and on
conjugate prompts (X, gamma y), the output divided by gamma."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from forgetscope.store import atomic_write_bytes
from forgetscope.studies.regression import baselines as bl
from forgetscope.studies.regression.context import EVALUATE_STAGE, SeedContext
from forgetscope.studies.regression.data import (
    EVAL_STREAM,
    FAMILIES,
    Prompts,
    generator,
    interleave,
    sample_prompts,
)
from forgetscope.studies.regression.model import load_model
from forgetscope.studies.stages import run_stage, stage_done
from forgetscope.training.checkpoints import step_name


def eval_prompts(ctx: SeedContext) -> dict[str, Prompts]:
    """The seed's evaluation set: the same on every rerun, independent of the training streams."""
    c = ctx.cfg
    return {fam: sample_prompts(ctx.families, c.eval.prompts, c.n_points, p, generator(ctx.seed, EVAL_STREAM, i))
            for i, (fam, p) in enumerate(FAMILIES.items())}


def _long(ctx: SeedContext, family: str, columns: dict[str, torch.Tensor], **tags) -> pd.DataFrame:
    """[prompts, n] tensors -> one row per prompt x k."""
    b, n = next(iter(columns.values())).shape
    out = {"seed": ctx.seed, **tags, "family": family,
           "prompt": np.repeat(np.arange(b, dtype=np.int32), n), "k": np.tile(np.arange(n, dtype=np.int16), b)}
    out.update({name: t.detach().double().reshape(-1).numpy() for name, t in columns.items()})
    return pd.DataFrame(out)


def baseline_table(ctx: SeedContext, prompts: dict[str, Prompts]) -> pd.DataFrame:
    t, fam = ctx.cfg.task, ctx.families
    frames = []
    for family, p in prompts.items():
        cols = {"y": p.ys, **bl.all_baselines(p.xs, p.ys, fam.discrete, t.sigma, t.tau, t.alpha)}
        cols["posterior_discrete"] = bl.posterior_discrete(p.xs, p.ys, fam.discrete, t.sigma, t.tau, t.alpha)
        dist = bl.nearest_discrete_distance(p.w, fam.discrete)
        cols["w_distance"] = dist[:, None].expand(p.ys.shape)
        frames.append(_long(ctx, family, cols))
    return pd.concat(frames, ignore_index=True)


@torch.no_grad()
def predict(model, xs: torch.Tensor, ys: torch.Tensor, gamma: float, batch_size: int, device) -> torch.Tensor:
    """The model's prediction at every k for prompts (X, gamma y), divided by gamma."""
    out = []
    for i in range(0, len(xs), batch_size):
        inputs = interleave(xs[i : i + batch_size], gamma * ys[i : i + batch_size]).to(device)
        out.append(model(inputs).float().cpu() / gamma)
    return torch.cat(out)


def model_table(ctx: SeedContext, prompts: dict[str, Prompts], step: int) -> pd.DataFrame:
    model = load_model(ctx.model_path(step), device=ctx.device)
    frames = []
    for gamma in [1.0, *ctx.cfg.eval.gammas]:
        for family, p in prompts.items():
            pred = predict(model, p.xs, p.ys, gamma, ctx.cfg.eval.batch_size, ctx.device)
            frames.append(_long(ctx, family, {"pred": pred}, step=step, gamma=float(gamma)))
    return pd.concat(frames, ignore_index=True)


def evaluate_checkpoints(ctx: SeedContext) -> None:
    stage = ctx.stage(EVALUATE_STAGE)
    if stage_done(stage):  # done and intact: its inputs need not be read
        return
    prompts = eval_prompts(ctx)
    units = {"baselines": None, **{step_name(s): s for s in [0, *ctx.steps]}}

    def evaluate(unit: str) -> None:
        table = baseline_table(ctx, prompts) if unit == "baselines" else model_table(ctx, prompts, units[unit])
        atomic_write_bytes(stage.path / f"{unit}.parquet", table.to_parquet(index=False))

    run_stage(stage, evaluate, list(units), reporter=ctx.reporter, title="evaluate",
              record={"steps": [0, *ctx.steps], "prompts_per_family": ctx.cfg.eval.prompts})
