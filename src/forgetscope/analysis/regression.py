"""The regression study's measurements, as pure functions of tidy tables (no models, no files).

Per seed (`seed_tables`): MSE per k of the models and the exact baselines, the fine-tuning
trajectory, agreement with ridge and discrete Bayes, the damage of fine-tuning against closeness to
the discrete set, and what conjugate prompts (X, gamma y) recover. Over seeds: means with t-intervals
(`seed_stat`, `series`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from forgetscope.analysis.stats import seed_interval

MODELS = ("base", "finetuned")


def seed_tables(base: pd.DataFrame, preds: pd.DataFrame, *, baselines: Sequence[str], final_step: int, gammas: Sequence[float],
                closeness_bins: int) -> dict[str, pd.DataFrame]:
    """Every measurement of one seed, as tidy tables, from the exact baselines' table `base` (a column
    per name in `baselines`) and the models' predictions `preds` (step 0 = the base model,
    `final_step` = the fine-tuned one)."""
    final = final_step
    seed = int(base["seed"].iat[0])
    keys = ["family", "prompt", "k"]
    df = preds.merge(base, on=[*keys, "seed"], how="left")
    df["sq"] = (df["pred"] - df["y"]) ** 2
    named = df[df["step"].isin([0, final])].assign(predictor=lambda d: np.where(d["step"] == 0, "base", "finetuned"))

    # 1. MSE per k: the models at each gamma, the baselines (gamma-invariant or not applicable: gamma 1)
    loss = named.groupby(["family", "predictor", "gamma", "k"], as_index=False)["sq"].mean().rename(columns={"sq": "mse"})
    bl_rows = [base.assign(mse=(base[b] - base["y"]) ** 2).groupby(["family", "k"], as_index=False)["mse"].mean()
               .assign(predictor=b, gamma=1.0) for b in baselines]
    loss = pd.concat([loss, *bl_rows], ignore_index=True).assign(seed=seed)

    # 2. the fine-tuning trajectory (gamma = 1, mean over k)
    ident = df[df["gamma"] == 1.0]
    traj = ident.groupby(["family", "step"], as_index=False)["sq"].mean().rename(columns={"sq": "mse"}).assign(seed=seed)

    # 3. closeness of each model's prediction to ridge and to discrete Bayes
    n1 = named[named["gamma"] == 1.0]
    agree = n1.assign(to_ridge=(n1["pred"] - n1["ridge"]) ** 2, to_discrete_bayes=(n1["pred"] - n1["discrete_bayes"]) ** 2)
    agree = agree.groupby(["family", "predictor", "k"], as_index=False)[["to_ridge", "to_discrete_bayes"]].mean().assign(seed=seed)

    # 4. damage on continuous prompts against closeness to the fine-tuning distribution
    cont = n1[n1["family"] == "continuous"].pivot_table(index=["prompt", "k"], columns="predictor", values="sq").reset_index()
    cont = cont.merge(base[base["family"] == "continuous"][["prompt", "k", "posterior_discrete", "w_distance"]], on=["prompt", "k"])
    cont["damage"] = cont["finetuned"] - cont["base"]
    closeness = pd.concat([_binned(cont[cont["k"] >= 1], "posterior_discrete", closeness_bins, ascending=True),
                           _binned(cont[cont["k"] >= 1].groupby("prompt", as_index=False)[["w_distance", "damage", "base"]].mean(),
                                   "w_distance", closeness_bins, ascending=False)], ignore_index=True).assign(seed=seed)

    # 5. conjugate prompting on the continuous family: share of the damage recovered, per gamma and k
    lk = loss[(loss["family"] == "continuous") & loss["predictor"].isin(MODELS)]
    wide = lk.pivot_table(index="k", columns=["predictor", "gamma"], values="mse")
    conj = []
    for g in gammas:
        damage = wide[("finetuned", 1.0)] - wide[("base", 1.0)]
        recovered = wide[("finetuned", 1.0)] - wide[("finetuned", float(g))]
        conj.append(pd.DataFrame({"k": wide.index, "gamma": float(g), "base": wide[("base", 1.0)].to_numpy(),
                                  "finetuned": wide[("finetuned", 1.0)].to_numpy(), "conjugate": wide[("finetuned", float(g))].to_numpy(),
                                  "base_conjugate": wide[("base", float(g))].to_numpy(), "damage": damage.to_numpy(),
                                  "recovered": recovered.to_numpy()}))
    conj = pd.concat(conj, ignore_index=True).assign(seed=seed)
    return {"loss_by_k": loss, "trajectory": traj, "agreement": agree, "closeness": closeness, "conjugate": conj}


def _binned(df: pd.DataFrame, column: str, bins: int, *, ascending: bool) -> pd.DataFrame:
    """Quantile bins of `column`, numbered from farthest (0) to closest (bins - 1) to the discrete set."""
    rank = df[column].rank(method="first", ascending=ascending)
    b = pd.qcut(rank, bins, labels=False)
    out = df.assign(bin=b).groupby("bin", as_index=False).agg(closeness=(column, "mean"), damage=("damage", "mean"),
                                                                base=("base", "mean"), n=("damage", "size"))
    return out.assign(measure=column)


def num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))) else round(float(x), 6)


def seed_stat(values, level: float) -> dict:
    """Mean over seeds, its t-interval, and the per-seed values (in seed order)."""
    values = np.asarray(values, dtype=float)
    m, lo, hi = seed_interval(values, level)
    return {"mean": num(m), "ci": [num(lo), num(hi)], "by_seed": [num(v) for v in values]}


def series(df: pd.DataFrame, by: list[str], value: str, level: float) -> list[dict]:
    """Rows of `by` with the mean of `value` over seeds and its interval."""
    rows = []
    for key, g in df.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        iv = seed_stat(g.sort_values("seed")[value].to_numpy(), level)
        rows.append({**{k: (int(v) if k in ("k", "step", "bin") else v) for k, v in zip(by, key, strict=True)}, value: iv["mean"], "ci": iv["ci"]})
    return rows


def ratio(a: float, b: float) -> float | None:
    return num(a / b) if b else None


def excludes_zero(ci: list, sign: int) -> bool:
    lo, hi = ci
    if lo is None or hi is None:
        return False
    return lo > 0 if sign > 0 else hi < 0


def agreement_rows(h: pd.DataFrame, level: float) -> list[dict]:
    a = {r["k"]: r for r in series(h, ["k"], "to_ridge", level)}
    b = {r["k"]: r for r in series(h, ["k"], "to_discrete_bayes", level)}
    return [{"k": k, "to_ridge": {"mean": a[k]["to_ridge"], "ci": a[k]["ci"]},
             "to_discrete_bayes": {"mean": b[k]["to_discrete_bayes"], "ci": b[k]["ci"]}} for k in sorted(a)]
