"""The regression study's measurements, as pure functions of tidy tables (no models, no files).

Per seed (`seed_tables`): MSE per k of the models and the exact baselines, the fine-tuning
trajectory, agreement with ridge and discrete Bayes, the damage of fine-tuning against closeness to
the discrete set, and what conjugate prompts (X, gamma y) recover. Over seeds: means with t-intervals
(`seed_stat`, `series`). `ideal_closeness`: the same damage-against-closeness for the ideal
(mixture-Bayes) model, the reference the models' finding is read against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forgetscope.analysis.findings import finding, interval_verdict
from forgetscope.analysis.stats import num, seed_interval

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
    closeness, by_k = damage_by_closeness(cont, closeness_bins)
    closeness = closeness.assign(seed=seed)

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
    return {"loss_by_k": loss, "trajectory": traj, "agreement": agree, "closeness": closeness,
            "closeness_by_k": by_k.assign(seed=seed), "conjugate": conj}


def damage_by_closeness(cont: pd.DataFrame, bins: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Damage (finetuned - base squared error) per closeness bin, from continuous prompts (a row per
    prompt x k: `base`, `finetuned`, `posterior_discrete`, `w_distance`), k >= 1: (both measures' bins,
    the posterior's bins within each k)."""
    cont = cont.assign(damage=cont["finetuned"] - cont["base"])
    # The posterior of the discrete family grows with k, so its bins are formed within each k and then
    # averaged over k (equal weight per k): a comparison across bins is never a comparison across k.
    shown = cont[cont["k"] >= 1]
    by_k = pd.concat([_binned(g, "posterior_discrete", bins, ascending=True).assign(k=int(k))
                      for k, g in shown.groupby("k")], ignore_index=True)
    posterior = (by_k.groupby("bin", as_index=False)[["closeness", "damage", "base", "n"]].mean()
                 .assign(measure="posterior_discrete"))
    per_prompt = shown.groupby("prompt", as_index=False)[["w_distance", "damage", "base"]].mean()
    by_w = _binned(per_prompt, "w_distance", bins, ascending=False)
    return pd.concat([posterior, by_w], ignore_index=True), by_k


def _binned(df: pd.DataFrame, column: str, bins: int, *, ascending: bool) -> pd.DataFrame:
    """Quantile bins of `column`, numbered from farthest (0) to closest (bins - 1) to the discrete set."""
    rank = df[column].rank(method="first", ascending=ascending)
    b = pd.qcut(rank, bins, labels=False)
    out = df.assign(bin=b).groupby("bin", as_index=False).agg(closeness=(column, "mean"), damage=("damage", "mean"),
                                                                base=("base", "mean"), n=("damage", "size"))
    return out.assign(measure=column)


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


def agreement_rows(h: pd.DataFrame, level: float) -> list[dict]:
    a = {r["k"]: r for r in series(h, ["k"], "to_ridge", level)}
    b = {r["k"]: r for r in series(h, ["k"], "to_discrete_bayes", level)}
    return [{"k": k, "to_ridge": {"mean": a[k]["to_ridge"], "ci": a[k]["ci"]},
             "to_discrete_bayes": {"mean": b[k]["to_discrete_bayes"], "ci": b[k]["ci"]}} for k in sorted(a)]


def ideal_closeness(bases: Sequence[pd.DataFrame], after: str, bins: int, level: float) -> dict:
    """What an ideal model says about "closer hurts more": the damage of moving from mixture-Bayes at
    the pre-training prior (`mixture_bayes`) to the predictions in column `after` (mixture-Bayes at a
    prior shifted toward the discrete family), on each seed's baselines table (`bases`, as stage 3
    writes them: the study's prompts, posterior and distance), binned exactly as `seed_tables` bins the
    models' damage. Per family the mean damage over k; per closeness measure the damage per bin and
    closest - farthest bin, each with its t-interval over seeds, the verdict of the study's finding, and
    the bin with the largest damage."""
    family, closeness = [], []
    for base in bases:
        seed = int(base["seed"].iat[0])
        sq = base.assign(base=(base["mixture_bayes"] - base["y"]) ** 2, finetuned=(base[after] - base["y"]) ** 2)
        family.append((sq["finetuned"] - sq["base"]).groupby(sq["family"]).mean().rename(seed))
        cl, _ = damage_by_closeness(sq[sq["family"] == "continuous"], bins)
        closeness.append(cl.assign(seed=seed))
    fam = pd.concat(family, axis=1).T.sort_index()
    cl = pd.concat(closeness, ignore_index=True)
    measures = {}
    for measure, g in cl.groupby("measure"):
        wide = g.pivot_table(index="seed", columns="bin", values="damage").sort_index()
        diff = seed_stat(wide[wide.columns.max()] - wide[wide.columns.min()], level)
        measures[measure] = {"bins": [{"bin": int(b), **seed_stat(wide[b], level)} for b in wide.columns],
                             "closest_minus_farthest": diff, "verdict": interval_verdict(*diff["ci"], 0.0, "above"),
                             "peak_bin": int(wide.mean().idxmax())}
    return {"family_damage": {f: seed_stat(fam[f], level) for f in fam.columns}, "closeness": measures}


KOTHA = "Kotha et al. (ICLR 2024), in-context regression"


def regression_findings(effect: dict, closeness: dict, conjugate: dict, small_k: int) -> list[dict]:
    """The paper's findings, each decided by its t-interval over seeds."""
    out = []
    for fam, side, claim in (("discrete", "below", "Fine-tuning on the discrete family lowers the loss on that family."),
                             ("continuous", "above", "Fine-tuning on the discrete family raises the loss on the continuous family "
                                                     "(the capability the fine-tuning did not ask for is suppressed).")):
        ch = effect[fam]["change"]
        lo, hi = ch["ci"]
        v = interval_verdict(lo, hi, 0.0, side)
        agree = sum(1 for x in ch["by_seed"] if x is not None and (x < 0 if side == "below" else x > 0))
        out.append(finding(f"{fam}_loss_{'falls' if side == 'below' else 'rises'}", claim, KOTHA,
                           f"change in the {fam} family's MSE (fine-tuned - base, mean over k)", ch["mean"], ch["ci"], v,
                           f"{'lower' if side == 'below' else 'higher'} after fine-tuning in {agree} of {len(ch['by_seed'])} seeds",
                           unit="MSE"))
    post = closeness.get("posterior_discrete")
    if post is not None:
        d = post["closest_minus_farthest"]
        lo, hi = d["ci"]
        v = interval_verdict(lo, hi, 0.0, "above")
        out.append(finding("closer_hurts_more", "The damage is largest for prompts closest to the fine-tuning distribution.", KOTHA,
                           "damage (fine-tuned - base squared error) in the closest minus the farthest quantile bin of "
                           "P(discrete family | prefix), bins formed within each k, averaged over k >= 1",
                           d["mean"], d["ci"], v,
                           "farther prompts are hurt more (the opposite)" if v == "fails" else
                           "closer prompts are hurt more" if v == "holds" else "the interval includes no difference", unit="MSE"))
    for g, c in conjugate.items():
        r = c["recovered_small_k"]
        lo, hi = r["ci"]
        v = interval_verdict(lo, hi, 0.0, "above")
        share = c["share_small_k"]
        out.append(finding(f"conjugate_recovers_small_k_gamma_{g}", f"Conjugate prompts (X, {g}·y), output divided by {g}, recover "
                           f"part of the continuous family's rise at small k (k <= {small_k}).", KOTHA,
                           f"MSE recovered (fine-tuned - conjugate) at k <= {small_k}", r["mean"], r["ci"], v,
                           f"{'–' if share is None else f'{100 * share:.0f}%'} of the damage at k <= {small_k}", unit="MSE"))
    return out
