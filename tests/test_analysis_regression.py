"""The regression study's measurements (forgetscope.analysis.regression) on a hand-made seed, against
the definitions written out here with plain loops: MSE per k, the fine-tuning trajectory, agreement
with the exact baselines, damage by closeness bin, conjugate recovery, t-intervals over seeds from
scipy, and the findings' verdicts from their intervals."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forgetscope.analysis.regression import (
    KOTHA, agreement_rows, num, ratio, regression_findings, seed_stat, seed_tables, series,
)

FAMS, PROMPTS, KS, STEPS, GAMMAS = ("continuous", "discrete"), range(8), (0, 1, 2), (0, 5, 10), (1.0, 2.0, 0.5)
SEED = 4


def _seed_inputs():
    rng = np.random.default_rng(11)
    base, preds = [], []
    for fam, p, k in itertools.product(FAMS, PROMPTS, KS):
        y = float(rng.normal())
        post = float(rng.random())
        if (fam, k) == ("continuous", 1):  # prompts 2 and 5 tie, 2nd and 3rd smallest: first come goes to the lower bin
            post = [0.9, 0.1, 0.3, 0.7, 0.5, 0.3, 0.8, 0.6][p]
        base.append({"family": fam, "prompt": p, "k": k, "seed": SEED, "y": y, "ridge": y + float(rng.normal(0, 0.3)),
                     "discrete_bayes": y + float(rng.normal(0, 0.5)), "zero": 0.0, "posterior_discrete": post,
                     "w_distance": float(rng.random() * 3)})
        for step, g in itertools.product(STEPS, GAMMAS):
            preds.append({"family": fam, "prompt": p, "k": k, "seed": SEED, "step": step, "gamma": g,
                          "pred": y + float(rng.normal(0, 0.2 + 0.1 * step + 0.3 * (g != 1.0)))})
    return pd.DataFrame(base), pd.DataFrame(preds).sample(frac=1.0, random_state=1)


def _mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs)


def _binned_by_hand(entries, bins, ascending):
    """entries: (value, damage, base) in table order; bins of equal size by rank (ties: first come, first)."""
    order = sorted(range(len(entries)), key=lambda i: (entries[i][0] if ascending else -entries[i][0], i))
    size = len(entries) // bins
    out = {}
    for b in range(bins):
        part = [entries[i] for i in order[b * size:(b + 1) * size]]
        out[b] = (_mean(e[0] for e in part), _mean(e[1] for e in part), _mean(e[2] for e in part), len(part))
    return out


def test_seed_tables_against_loops_by_hand():
    base, preds = _seed_inputs()
    t = seed_tables(base, preds, baselines=["ridge", "discrete_bayes", "zero"], final_step=10, gammas=[2.0, 0.5],
                    closeness_bins=4)
    assert set(t) == {"loss_by_k", "trajectory", "agreement", "closeness", "closeness_by_k", "conjugate"}
    assert all((df["seed"] == SEED).all() for df in t.values())
    b = {(r.family, r.prompt, r.k): r for r in base.itertuples()}
    pr = {(r.family, r.prompt, r.k, r.step, r.gamma): r.pred for r in preds.itertuples()}

    def sq(fam, p, k, step, g):
        return (pr[(fam, p, k, step, g)] - b[(fam, p, k)].y) ** 2

    who = {"base": 0, "finetuned": 10}
    # 1. MSE per k: models at every gamma, baselines at gamma 1
    want = {(fam, m, g, k): _mean(sq(fam, p, k, s, g) for p in PROMPTS)
            for fam, (m, s), g, k in itertools.product(FAMS, who.items(), GAMMAS, KS)}
    want |= {(fam, name, 1.0, k): _mean((getattr(b[(fam, p, k)], name) - b[(fam, p, k)].y) ** 2 for p in PROMPTS)
             for fam, name, k in itertools.product(FAMS, ("ridge", "discrete_bayes", "zero"), KS)}
    got = {(r.family, r.predictor, r.gamma, r.k): r.mse for r in t["loss_by_k"].itertuples()}
    assert len(t["loss_by_k"]) == len(want) and got == pytest.approx(want, rel=1e-12)

    # 2. the trajectory: gamma 1, every step (not only 0 and final), mean over prompts and k
    want = {(fam, s): _mean(sq(fam, p, k, s, 1.0) for p in PROMPTS for k in KS) for fam in FAMS for s in STEPS}
    got = {(r.family, r.step): r.mse for r in t["trajectory"].itertuples()}
    assert len(t["trajectory"]) == len(want) and got == pytest.approx(want, rel=1e-12)

    # 3. agreement with ridge and discrete Bayes (gamma 1)
    want = {(fam, m, k): (_mean((pr[(fam, p, k, s, 1.0)] - b[(fam, p, k)].ridge) ** 2 for p in PROMPTS),
                          _mean((pr[(fam, p, k, s, 1.0)] - b[(fam, p, k)].discrete_bayes) ** 2 for p in PROMPTS))
            for fam, (m, s), k in itertools.product(FAMS, who.items(), KS)}
    got = {(r.family, r.predictor, r.k): (r.to_ridge, r.to_discrete_bayes) for r in t["agreement"].itertuples()}
    assert len(t["agreement"]) == len(want) and set(got) == set(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-12)

    # 4. damage on continuous prompts by closeness: posterior bins within each k (k >= 1), averaged over k;
    # w_distance bins of the prompts' means over k >= 1, farthest (largest distance) first
    def damage(p, k):
        return sq("continuous", p, k, 10, 1.0) - sq("continuous", p, k, 0, 1.0)

    per_k = {k: _binned_by_hand([(b[("continuous", p, k)].posterior_discrete, damage(p, k), sq("continuous", p, k, 0, 1.0))
                                 for p in PROMPTS], 4, ascending=True) for k in (1, 2)}
    got = {(r.k, r.bin): (r.closeness, r.damage, r.base, r.n) for r in t["closeness_by_k"].itertuples()}
    assert len(got) == 8 and set(t["closeness_by_k"]["measure"]) == {"posterior_discrete"}
    for k, bins in per_k.items():
        for bn, v in bins.items():
            assert got[(k, bn)] == pytest.approx(v, rel=1e-12), (k, bn)
    cl = t["closeness"]
    post = cl[cl["measure"] == "posterior_discrete"].set_index("bin")
    for bn in range(4):
        assert tuple(post.loc[bn, ["closeness", "damage", "base", "n"]]) == pytest.approx(
            tuple(_mean(per_k[k][bn][i] for k in (1, 2)) for i in range(4)), rel=1e-12)
    wd = _binned_by_hand([(_mean(b[("continuous", p, k)].w_distance for k in (1, 2)), _mean(damage(p, k) for k in (1, 2)),
                           _mean(sq("continuous", p, k, 0, 1.0) for k in (1, 2))) for p in PROMPTS], 4, ascending=False)
    w = cl[cl["measure"] == "w_distance"].set_index("bin")
    assert len(cl) == 8 and list(w.index) == [0, 1, 2, 3]
    for bn, v in wd.items():
        assert tuple(w.loc[bn, ["closeness", "damage", "base", "n"]]) == pytest.approx(v, rel=1e-12), bn
    assert w["closeness"].is_monotonic_decreasing and post["closeness"].is_monotonic_increasing

    # 5. conjugate prompting on the continuous family, per gamma asked for and k
    def mse(m, g, k):
        return _mean(sq("continuous", p, k, who[m], g) for p in PROMPTS)

    cj = t["conjugate"]
    assert list(zip(cj["gamma"], cj["k"], strict=True)) == [(g, k) for g in (2.0, 0.5) for k in KS]
    for r in cj.itertuples():
        g, k = r.gamma, r.k
        assert (r.base, r.finetuned, r.conjugate, r.base_conjugate, r.damage, r.recovered) == pytest.approx(
            (mse("base", 1.0, k), mse("finetuned", 1.0, k), mse("finetuned", g, k), mse("base", g, k),
             mse("finetuned", 1.0, k) - mse("base", 1.0, k), mse("finetuned", 1.0, k) - mse("finetuned", g, k)), rel=1e-12)


def test_num_and_ratio():
    assert num(1 / 3) == 0.333333 and num(-2 / 3) == -0.666667 and num(3) == 3.0 and isinstance(num(3), float)
    assert num(None) is None and num(float("nan")) is None and num(float("inf")) is None and num(-math.inf) is None
    assert num(np.float64("inf")) is None and num(0.0) == 0.0
    assert ratio(1.0, 3.0) == 0.333333 and ratio(-1.0, 4.0) == -0.25 and ratio(1.0, 0.0) is None and ratio(0.0, 2.0) == 0.0


def t_iv(x, level):
    x = np.asarray(x, float)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return x.mean() - half, x.mean() + half


def test_seed_stat_and_series_against_t_intervals_by_hand():
    s = seed_stat([0.2, 0.5, 0.35], 0.9)
    lo, hi = t_iv([0.2, 0.5, 0.35], 0.9)
    assert s == {"mean": 0.35, "ci": [round(lo, 6), round(hi, 6)], "by_seed": [0.2, 0.5, 0.35]}
    one = seed_stat(np.array([0.25]), 0.95)
    assert one == {"mean": 0.25, "ci": [None, None], "by_seed": [0.25]}

    rng = np.random.default_rng(2)
    rows = [{"seed": sd, "k": k, "family": fam, "mse": float(rng.random())} for sd in (3, 1, 2) for k in (2, 0, 1)
            for fam in ("d", "c")]
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=3)
    out = series(df, ["family", "k"], "mse", 0.8)
    assert [(r["family"], r["k"]) for r in out] == [(f, k) for f in ("c", "d") for k in (0, 1, 2)]
    assert all(type(r["k"]) is int for r in out)
    for r in out:
        vals = [x["mse"] for x in sorted(rows, key=lambda x: x["seed"]) if x["family"] == r["family"] and x["k"] == r["k"]]
        lo, hi = t_iv(vals, 0.8)
        assert r["mse"] == round(_mean(vals), 6) and r["ci"] == [round(lo, 6), round(hi, 6)]
        assert set(r) == {"family", "k", "mse", "ci"}
    single = series(df[df["family"] == "c"].assign(step=lambda d: d["k"] * 4), ["step"], "mse", 0.8)
    assert [r["step"] for r in single] == [0, 4, 8] and all(type(r["step"]) is int for r in single)
    # k, step and bin are written as integers even from a float column (qcut's bins are floats when a value is missing)
    for col in ("k", "step", "bin"):
        out = series(df.assign(**{col: df["k"] * 2.0}), ["family", col], "mse", 0.8)
        assert [r[col] for r in out] == [0, 2, 4] * 2 and all(type(r[col]) is int for r in out), col
    assert [type(r["family"]) for r in series(df, ["family"], "mse", 0.8)] == [str, str]


def test_agreement_rows_by_hand():
    rows = [{"seed": sd, "k": k, "to_ridge": 0.1 * sd + k, "to_discrete_bayes": 0.2 * sd * sd - k}
            for sd in (0, 1, 2, 3) for k in (1, 0)]
    out = agreement_rows(pd.DataFrame(rows), 0.95)
    assert [r["k"] for r in out] == [0, 1]
    for r in out:
        k = r["k"]
        a, b = [0.1 * sd + k for sd in range(4)], [0.2 * sd * sd - k for sd in range(4)]
        (alo, ahi), (blo, bhi) = t_iv(a, 0.95), t_iv(b, 0.95)
        assert r["to_ridge"] == {"mean": round(_mean(a), 6), "ci": [round(alo, 6), round(ahi, 6)]}
        assert r["to_discrete_bayes"] == {"mean": round(_mean(b), 6), "ci": [round(blo, 6), round(bhi, 6)]}


def _stat(mean, lo, hi, by_seed=()):
    return {"mean": mean, "ci": [lo, hi], "by_seed": list(by_seed)}


def test_regression_findings_decided_by_their_intervals():
    effect = {"discrete": {"change": _stat(-0.2, -0.3, -0.1, [-0.25, None, 0.05, -0.4])},
              "continuous": {"change": _stat(0.4, 0.1, 0.7, [0.5, 0.3, -0.1, 0.9])}}
    closeness = {"posterior_discrete": {"closest_minus_farthest": _stat(0.05, -0.02, 0.12)}}
    conjugate = {"2": {"recovered_small_k": _stat(0.08, 0.01, 0.15), "share_small_k": 0.904},
                 "0.5": {"recovered_small_k": _stat(-0.1, -0.2, 0.0), "share_small_k": None}}
    out = regression_findings(effect, closeness, conjugate, small_k=3)
    assert [f["id"] for f in out] == ["discrete_loss_falls", "continuous_loss_rises", "closer_hurts_more",
                                      "conjugate_recovers_small_k_gamma_2", "conjugate_recovers_small_k_gamma_0.5"]
    d, c, cl, g2, g05 = out
    assert d == {"id": "discrete_loss_falls", "claim": "Fine-tuning on the discrete family lowers the loss on that family.",
                 "source": KOTHA, "measure": "change in the discrete family's MSE (fine-tuned - base, mean over k)",
                 "unit": "MSE",
                 "value": -0.2, "ci": [-0.3, -0.1], "verdict": "holds", "evidence": "lower after fine-tuning in 2 of 4 seeds"}
    assert c["verdict"] == "holds" and c["evidence"] == "higher after fine-tuning in 3 of 4 seeds" and c["value"] == 0.4
    assert c["claim"] == ("Fine-tuning on the discrete family raises the loss on the continuous family (the capability the "
                          "fine-tuning did not ask for is suppressed).")
    assert c["measure"] == "change in the continuous family's MSE (fine-tuned - base, mean over k)"
    assert cl["verdict"] == "uncertain" and cl["evidence"] == "the interval includes no difference" and cl["ci"] == [-0.02, 0.12]
    assert cl["value"] == 0.05 and cl["source"] == KOTHA and cl["unit"] == "MSE" and cl["id"] == "closer_hurts_more"
    assert cl["claim"] == "The damage is largest for prompts closest to the fine-tuning distribution."
    assert cl["measure"] == ("damage (fine-tuned - base squared error) in the closest minus the farthest quantile bin of "
                             "P(discrete family | prefix), bins formed within each k, averaged over k >= 1")
    assert g2 == {"id": "conjugate_recovers_small_k_gamma_2", "source": KOTHA, "unit": "MSE",
                  "claim": "Conjugate prompts (X, 2·y), output divided by 2, recover part of the continuous family's rise at "
                           "small k (k <= 3).", "measure": "MSE recovered (fine-tuned - conjugate) at k <= 3",
                  "value": 0.08, "ci": [0.01, 0.15], "verdict": "holds", "evidence": "90% of the damage at k <= 3"}
    assert g05["verdict"] == "fails" and g05["evidence"] == "– of the damage at k <= 3"

    # the other side of each threshold; a change of exactly 0 counts for neither side
    effect = {"discrete": {"change": _stat(0.1, 0.0, 0.2, [0.0, 0.1])},
              "continuous": {"change": _stat(-0.1, -0.2, 0.0, [0.0, -0.1])}}

    def closer(lo, hi):
        return {"posterior_discrete": {"closest_minus_farthest": _stat((lo + hi) / 2, lo, hi)}}

    out = {f["id"]: f for f in regression_findings(effect, closer(-0.2, -0.01), {}, small_k=2)}
    assert out["discrete_loss_falls"]["verdict"] == "fails" and out["discrete_loss_falls"]["evidence"].endswith("in 0 of 2 seeds")
    rises = out["continuous_loss_rises"]
    assert rises["verdict"] == "fails" and rises["evidence"].endswith("in 0 of 2 seeds")
    assert out["closer_hurts_more"]["verdict"] == "fails"
    assert out["closer_hurts_more"]["evidence"] == "farther prompts are hurt more (the opposite)"
    out = {f["id"]: f for f in regression_findings(effect, closer(0.02, 0.2), {}, small_k=2)}
    assert out["closer_hurts_more"]["verdict"] == "holds"
    assert out["closer_hurts_more"]["evidence"] == "closer prompts are hurt more"
    assert set(out) == {"discrete_loss_falls", "continuous_loss_rises", "closer_hurts_more"}
    assert [f["id"] for f in regression_findings(effect, {}, {}, small_k=2)] == ["discrete_loss_falls", "continuous_loss_rises"]
