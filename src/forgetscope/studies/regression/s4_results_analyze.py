"""Stage 4 (whole run): gather every seed's evaluation, compute the measurements, write summary.json.

Tables written to RUN_DIR/results/ (docs/regression.md has the columns):
    loss_by_k.parquet    MSE per seed x family x predictor x gamma x k (models and exact baselines)
    trajectory.parquet   MSE per seed x family x fine-tuning step (gamma = 1), mean over k
    agreement.parquet    mean squared distance of each model's prediction to ridge and to discrete Bayes
    closeness.parquet    damage of fine-tuning on continuous prompts, per seed x closeness measure x bin
    conjugate.parquet    per seed x gamma x k: losses with and without the conjugate prompt, damage, recovered
    train_log.parquet    losses of pre-training and fine-tuning
Every number in summary.json is a mean over seeds with a t-interval (`ci`) over seeds; the
measurements themselves are pure functions in forgetscope.analysis.regression.
"""

from __future__ import annotations

import pandas as pd

from forgetscope import __version__
from forgetscope.analysis.regression import (
    MODELS,
    agreement_rows,
    num,
    ratio,
    regression_findings,
    seed_stat,
    seed_tables,
    series,
)
from forgetscope.analysis.stats import require_finite
from forgetscope.schema import RegressionSummary
from forgetscope.store import RunStore, atomic_write_bytes, atomic_write_json
from forgetscope.studies.regression.baselines import BASELINES
from forgetscope.studies.regression.config import RegressionConfig
from forgetscope.studies.regression.context import BASE_STAGE, EVALUATE_STAGE, FINETUNE_STAGE
from forgetscope.training.checkpoints import step_name


def gather(cfg: RegressionConfig, store: RunStore, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(baselines, predictions of every model) of one seed."""
    folder = store.stage(EVALUATE_STAGE, seed).path
    steps = [0, *cfg.finetune.checkpoints.resolve(cfg.finetune.train.steps)]
    preds = pd.concat([pd.read_parquet(folder / f"{step_name(s)}.parquet") for s in steps], ignore_index=True)
    baselines = pd.read_parquet(folder / "baselines.parquet")
    require_finite(preds, ["pred"], f"{folder}: the models' predictions")
    require_finite(baselines, ["y", *BASELINES], f"{folder / 'baselines.parquet'}: the exact baselines")
    return baselines, preds


def _train_log(cfg: RegressionConfig, store: RunStore) -> pd.DataFrame:
    logs = []
    for s in cfg.seeds:
        for stage, phase in ((BASE_STAGE, "pretrain"), (FINETUNE_STAGE, "finetune")):
            f = store.stage(stage, s).path / "train_log.parquet"
            if f.exists():
                logs.append(pd.read_parquet(f).assign(seed=s, phase=phase))
    return pd.concat(logs, ignore_index=True) if logs else pd.DataFrame(columns=["step", "loss", "seed", "phase"])


def analyze(cfg: RegressionConfig, store: RunStore) -> RegressionSummary:
    per_seed = [seed_tables(*gather(cfg, store, s), baselines=BASELINES, final_step=cfg.finetune.train.steps,
                            gammas=cfg.eval.gammas, closeness_bins=cfg.analysis.closeness_bins) for s in cfg.seeds]
    tables = {name: pd.concat([t[name] for t in per_seed], ignore_index=True) for name in per_seed[0]}
    tables["train_log"] = _train_log(cfg, store)
    store.results_dir.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        atomic_write_bytes(store.results_dir / f"{name}.parquet", df.to_parquet(index=False))
    summary = build_summary(cfg, tables)
    atomic_write_json(store.summary_path, summary.model_dump(mode="json"))
    return summary


def build_summary(cfg: RegressionConfig, t: dict[str, pd.DataFrame]) -> RegressionSummary:
    level = cfg.analysis.ci_level
    loss = t["loss_by_k"]
    ident = loss[loss["gamma"] == 1.0]
    loss_by_k = {fam: {p: [{k: r[k] for k in ("k", "mse", "ci")} for r in series(g, ["k"], "mse", level)]
                       for p, g in f.groupby("predictor")} for fam, f in ident.groupby("family")}
    conj_loss = {fam: {f"{p}@{g:g}": [{k: r[k] for k in ("k", "mse", "ci")} for r in series(h, ["k"], "mse", level)]
                       for (p, g), h in f[f["predictor"].isin(MODELS)].groupby(["predictor", "gamma"])}
                 for fam, f in loss.groupby("family")}

    # fine-tuning effect per family: finetuned - base, mean over k, per seed
    m = ident[ident["predictor"].isin(MODELS)].groupby(["seed", "family", "predictor"])["mse"].mean().unstack("predictor")
    effect = {}
    per_k = ident[ident["predictor"].isin(MODELS)].pivot_table(index=["family", "k", "seed"], columns="predictor", values="mse")
    per_k = (per_k["finetuned"] - per_k["base"]).rename("change").reset_index()
    for fam, g in m.groupby(level="family"):
        effect[fam] = {"base": seed_stat(g["base"], level), "finetuned": seed_stat(g["finetuned"], level),
                       "change": seed_stat(g["finetuned"] - g["base"], level),
                       "change_by_k": series(per_k[per_k["family"] == fam], ["k"], "change", level)}

    # closeness: damage per bin, and closest minus farthest bin
    cl = t["closeness"]
    closeness = {}
    for measure, g in cl.groupby("measure"):
        bins = series(g, ["bin"], "damage", level)
        for b in bins:
            h = g[g["bin"] == b["bin"]]
            b["closeness"] = num(h["closeness"].mean())
            b["base_mse"] = num(h["base"].mean())
            b["relative_damage"] = ratio(h["damage"].mean(), h["base"].mean())
        top, bottom = g["bin"].max(), g["bin"].min()
        diff = g[g["bin"] == top].set_index("seed")["damage"] - g[g["bin"] == bottom].set_index("seed")["damage"]
        closeness[measure] = {"bins": bins, "closest_minus_farthest": seed_stat(diff, level)}

    # conjugate prompting. The recovered MSE (fine-tuned - conjugate) gets t-intervals over seeds; the
    # share of the damage it undoes is a ratio of seed means (a per-seed ratio explodes where a seed's
    # damage is near zero), with the per-seed ratios alongside.
    cj = t["conjugate"]
    small = cfg.analysis.small_k
    conjugate = {}
    for g_val, g in cj.groupby("gamma"):
        per_k = series(g, ["k"], "recovered", level)
        for r in per_k:
            h = g[g["k"] == r["k"]]
            r.update({c: num(h[c].mean()) for c in ("base", "finetuned", "conjugate", "base_conjugate", "damage")})
            r["recovered_share"] = ratio(h["recovered"].mean(), h["damage"].mean())
        parts = {"all": g, "small_k": g[g["k"] <= small], "large_k": g[g["k"] > small]}
        per_seed = {name: part.groupby("seed")[["recovered", "damage"]].mean() for name, part in parts.items()}
        entry = {"per_k": per_k}
        for name, ps in per_seed.items():
            sfx = "" if name == "all" else f"_{name}"
            entry[f"recovered{sfx}"] = seed_stat(ps["recovered"], level)
            entry[f"share{sfx}"] = ratio(ps["recovered"].mean(), ps["damage"].mean())
            entry[f"share{sfx}_by_seed"] = [ratio(a, b) for a, b in zip(ps["recovered"], ps["damage"], strict=True)]
        entry["small_minus_large"] = seed_stat(per_seed["small_k"]["recovered"] - per_seed["large_k"]["recovered"], level)
        conjugate[f"{g_val:g}"] = entry

    agree = t["agreement"]
    agreement = {fam: {p: [{k: r[k] for k in ("k", "to_ridge", "to_discrete_bayes")}
                           for r in agreement_rows(h, level)] for p, h in f.groupby("predictor")} for fam, f in agree.groupby("family")}
    traj = {fam: series(f, ["step"], "mse", level) for fam, f in t["trajectory"].groupby("family")}

    return RegressionSummary.model_validate({
        "name": cfg.name,
        "seeds": cfg.seeds,
        "ci_level": level,
        "task": cfg.task.model_dump(),
        "ridge_lambda": cfg.task.sigma**2 / cfg.task.tau**2,
        "finetune_steps": [0, *cfg.finetune.checkpoints.resolve(cfg.finetune.train.steps)],
        "gammas": cfg.eval.gammas,
        "small_k": small,
        "loss_by_k": loss_by_k,
        "conjugate_loss_by_k": conj_loss,
        "finetune_effect": effect,
        "trajectory": traj,
        "agreement": agreement,
        "closeness": closeness,
        "conjugate": conjugate,
        "findings": regression_findings(effect, closeness, conjugate, small),
        "forgetscope_version": __version__,
    })
