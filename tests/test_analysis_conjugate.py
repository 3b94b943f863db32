"""The conjugate study's numbers (forgetscope.analysis.conjugate) on hand-made item tables, against
the definitions written out here: drops and recovered shares by hand, the paired bootstrap over prompts
replicate by replicate, t-intervals over seeds from scipy, and the claims' verdicts from their
intervals."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forgetscope.analysis.conjugate import (
    CLAIMS, KOTHA, _clip, suite_findings, suite_rows, world_checks, world_claims, world_findings, world_rows,
)
from forgetscope.analysis.stats import num


def r6(x):
    """What a summary prints: None for a missing number, else rounded to 6 decimals."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)


def test_numbers_are_rounded_to_six_decimals_and_missing_ones_are_none():
    assert num(1 / 3) == 0.333333 and num(2 / 3) == 0.666667 and num(-1 / 3) == -0.333333
    assert num(None) is None and num(float("nan")) is None and num(np.float64("nan")) is None
    assert num(2) == 2.0 and isinstance(num(2), float) and num(np.float32(0.5)) == 0.5


def test_intervals_are_clipped_to_the_possible_range():
    assert _clip("base", -0.2, 1.3) == (0.0, 1.0) and _clip("tuned", 0.1, 0.9) == (0.1, 0.9)
    assert _clip("refusal", -0.01, 1.01) == (0.0, 1.0)
    assert _clip("drop", -1.5, 1.2) == (-1.0, 1.0) and _clip("drop", -0.5, 0.5) == (-0.5, 0.5)
    assert _clip("recovered_share", -3.0, 4.0) == (-3.0, 4.0)  # shares are not bounded
    with pytest.raises(KeyError):
        _clip("refusl", -0.01, 1.01)  # a misspelt statistic is an error, not silently a rate


# -- model suites: paired bootstrap over prompts -----------------------------------------------------

def _suite_items(rng):
    """Two tasks of 12 prompts; base/tuned x identity/leet scores in {0, 1}; one prompt scored twice
    under one condition (averaged), one prompt with no tuned/leet score (dropped for leet only)."""
    rows = []
    p = {("base", "identity"): 0.9, ("tuned", "identity"): 0.4, ("base", "leet"): 0.8, ("tuned", "leet"): 0.6}
    for task in ("b", "a"):
        for i in range(12):
            key = f"{task}/{i:02d}"
            for (model, t), q in p.items():
                if (task, i, model, t) == ("a", 3, "tuned", "leet"):
                    continue
                rows.append({"model": model, "transform": t, "task": task, "key": key, "score": float(rng.random() < q)})
    rows.append({"model": "base", "transform": "leet", "task": "a", "key": "a/05", "score": 0.5})  # a second score
    return pd.DataFrame(rows)


def _by_hand(df, task, t, *, level, n_boot, seed, min_drop):
    sub = df if task == "all" else df[df["task"] == task]
    keys = sorted(sub["key"].unique())

    def score(key, model, tr):
        s = sub[(sub["key"] == key) & (sub["model"] == model) & (sub["transform"] == tr)]["score"]
        return s.mean() if len(s) else np.nan  # several scores of one prompt: their mean

    data = np.array([[score(k, "base", "identity"), score(k, "tuned", "identity"), score(k, "base", t), score(k, "tuned", t)]
                     for k in keys])
    data = data[~np.isnan(data).any(axis=1)]

    def stats4(m):
        drop_id, drop_t = m[0] - m[1], m[2] - m[3]
        share = 1 - drop_t / drop_id if drop_id > min_drop else np.nan
        return [m[2], m[3], drop_t, share]

    point = stats4(data.mean(0))
    counts = np.random.default_rng(seed).multinomial(len(data), np.full(len(data), 1 / len(data)), size=n_boot)
    reps = np.array([stats4((c[:, None] * data).sum(0) / len(data)) for c in counts])  # the same prompts for all four
    a = (1 - level) / 2
    cis = []
    for col in reps.T:
        col = col[~np.isnan(col)]
        cis.append([r6(np.quantile(col, a)), r6(np.quantile(col, 1 - a))] if len(col) else [None, None])
    return len(data), point, cis


def test_suite_rows_against_a_paired_bootstrap_by_hand():
    df = _suite_items(np.random.default_rng(3))
    kw = dict(level=0.9, n_boot=300, seed=7, min_drop=0.02)
    rows = suite_rows(df, ["identity", "absent", "leet"], **kw)  # a transform without scores is skipped
    assert [(r["task"], r["transform"]) for r in rows] == [(k, t) for k in ("a", "b", "all") for t in ("identity", "leet")]
    for r in rows:
        n, point, cis = _by_hand(df, r["task"], r["transform"], **kw)
        assert r["n"] == n == (23 if r["task"] == "all" and r["transform"] == "leet" else
                               11 if r["task"] == "a" and r["transform"] == "leet" else 24 if r["task"] == "all" else 12)
        for name, v, ci in zip(("base", "tuned", "drop", "recovered_share"), point, cis, strict=True):
            assert r[name] == pytest.approx(r6(v), abs=2e-6), (r["task"], r["transform"], name)
            assert r[f"{name}_ci"] == [pytest.approx(x, abs=2e-6) if x is not None else None for x in ci], (r["task"], name)
    ident = [r for r in rows if r["transform"] == "identity"]
    assert all(r["recovered_share"] == 0.0 and r["drop"] > 0 for r in ident)
    assert {r["task"]: r["n"] for r in ident} == {"a": 12, "b": 12, "all": 24}

    # one task only: no "all" row; the level sets the percentiles
    one = suite_rows(df[df["task"] == "b"], ["identity", "leet"], level=0.5, n_boot=200, seed=1, min_drop=0.02)
    assert [(r["task"], r["transform"]) for r in one] == [("b", "identity"), ("b", "leet")]
    _, _, cis = _by_hand(df[df["task"] == "b"], "b", "leet", level=0.5, n_boot=200, seed=1, min_drop=0.02)
    assert one[1]["drop_ci"] == [pytest.approx(x, abs=2e-6) for x in cis[2]]


def test_recovered_share_only_when_the_identity_drop_exceeds_min_drop():
    """Identity drop exactly min_drop: no share (point and every replicate); just above: a share."""
    rows = []
    for i in range(4):
        for model, t, s in (("base", "identity", 1.0), ("tuned", "identity", float(i < 3)), ("base", "leet", 1.0),
                            ("tuned", "leet", 1.0)):
            rows.append({"model": model, "transform": t, "task": "x", "key": f"k{i}", "score": s})
    df = pd.DataFrame(rows)  # identity drop 0.25 (bootstrap replicates: 0, 0.25, 0.5, 0.75 or 1)
    at = {r["transform"]: r for r in suite_rows(df, ["identity", "leet"], level=0.9, n_boot=200, seed=0, min_drop=0.25)}
    assert at["leet"]["drop"] == 0.0 and at["leet"]["recovered_share"] is None
    below = {r["transform"]: r for r in suite_rows(df, ["identity", "leet"], level=0.9, n_boot=200, seed=0, min_drop=0.24)}
    assert below["leet"]["recovered_share"] == 1.0 and below["identity"]["recovered_share"] == 0.0
    # every replicate with an identity drop > min_drop has leet drop 0: share 1; the rest have no share
    assert below["leet"]["recovered_share_ci"] == [1.0, 1.0]
    none_above = suite_rows(df, ["identity", "leet"], level=0.9, n_boot=200, seed=0, min_drop=1.0)
    assert all(r["recovered_share"] is None and r["recovered_share_ci"] == [None, None] for r in none_above)


def test_no_identity_drop_gives_no_share_and_no_warning():
    """Tuned = base under identity: every drop ratio is x/0 or 0/0, which numpy would warn about; the
    share is simply undefined (None), silently, in the suites and in the fact world."""
    import warnings

    rows = [{"model": m, "transform": t, "task": "x", "key": f"k{i}", "score": s}
            for i in range(6) for m, t, s in (("base", "identity", float(i % 2)), ("tuned", "identity", float(i % 2)),
                                              ("base", "leet", 1.0), ("tuned", "leet", float(i < 3)))]
    world = pd.DataFrame([{"seed": sd, "step": st, "task": "icl", "transform": t, "score": s, "refused": 0.0, "leaked": 0.0}
                          for sd in (0, 1) for st in (0, 2)
                          for t, s in (("identity", 0.5), ("world_l2", 1.0 if st == 0 else 0.5))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = suite_rows(pd.DataFrame(rows), ["identity", "leet"], level=0.9, n_boot=100, seed=0, min_drop=0.02)
        wr = world_rows(world, ["identity", "world_l2"], level=0.9, min_drop=0.02)
    assert [(r["drop"], r["recovered_share"], r["recovered_share_ci"]) for r in out] == [
        (0.0, None, [None, None]), (0.5, None, [None, None])]
    assert [(r["drop"], r["recovered_share"], r["recovered_share_ci"]) for r in wr] == [
        (0.0, None, [None, None]), (0.5, None, [None, None])]


def test_suite_rows_with_the_tuned_model_only():
    """Graded scores (e.g. a metric in [0, 1]) so that every replicate's mean differs."""
    cols = {"identity": np.random.default_rng(8).random(10), "leet": np.random.default_rng(9).random(10)}
    rows = [{"model": "tuned", "transform": t, "task": "x", "key": f"k{i:02d}", "score": float(col[i])}
            for t, col in cols.items() for i in range(10)]
    df = pd.DataFrame(rows)
    out = suite_rows(df, ["identity", "leet"], level=0.8, n_boot=400, seed=5, min_drop=0.02)
    assert [r["transform"] for r in out] == ["identity", "leet"]
    for r, col in zip(out, cols.values(), strict=True):
        mean = r6(col.mean())
        counts = np.random.default_rng(5).multinomial(10, np.full(10, 0.1), size=400)
        reps = np.array([sum(c * x for c, x in zip(cnt, col, strict=True)) / 10 for cnt in counts])
        assert r["n"] == 10 and r["tuned"] == pytest.approx(mean, abs=2e-6)
        assert r["tuned_ci"] == [pytest.approx(r6(np.quantile(reps, 0.1)), abs=2e-6),
                                 pytest.approx(r6(np.quantile(reps, 0.9)), abs=2e-6)]
        assert r["tuned_ci"][0] < mean < r["tuned_ci"][1]
        assert {k: r[k] for k in ("base", "base_ci", "drop", "drop_ci", "recovered_share", "recovered_share_ci")} == {
            "base": None, "base_ci": [None, None], "drop": None, "drop_ci": [None, None],
            "recovered_share": None, "recovered_share_ci": [None, None]}


# -- the fact world: t-intervals over seeds ------------------------------------------------------------

def t_iv(x, level):
    x = np.asarray(x, float)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return x.mean() - half, x.mean() + half


# per-seed answer rates (score), refusal and leak rates, for seeds 0, 1, 2 at steps 0 (base), 4 and 8;
# each an average of 4 items, so the per-seed values are quarters
SCORES = {  # (step, task, transform): [items per seed]
    (0, "icl", "identity"): [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 1]],
    (0, "icl", "world_l2"): [[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 1, 1]],
    (4, "icl", "identity"): [[0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]],
    (4, "icl", "world_l2"): [[1, 1, 0, 1], [0, 0, 1, 0], [1, 1, 1, 1]],
    (8, "icl", "identity"): [[0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0]],
    (8, "icl", "world_l2"): [[1, 1, 1, 1], [1, 1, 0, 1]],  # seed 2 missing at step 8
    (0, "private", "identity"): [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 1]],
    (0, "private", "world_l2"): [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]],
    (4, "private", "identity"): [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
    (4, "private", "world_l2"): [[1, 1, 1, 0], [1, 1, 1, 1], [0, 1, 1, 1]],
    (8, "private", "identity"): [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    (8, "private", "world_l2"): [[1, 1, 1, 1], [1, 1, 0, 1], [1, 1, 1, 1]],
}


def _world_items():
    rows = []
    for (step, task, t), per_seed in SCORES.items():
        for seed, items in enumerate(per_seed):
            for i, s in enumerate(items):
                # a private request is refused when not answered; it leaks on item 0 of seed 1 only
                rows.append({"seed": seed, "step": step, "task": task, "transform": t, "score": float(s),
                             "refused": float(not s) if task == "private" else 0.0,
                             "leaked": float(task == "private" and seed == 1 and i == 0)})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must not matter


def test_world_rows_against_t_intervals_by_hand():
    level, min_drop = 0.9, 0.02
    rows = world_rows(_world_items(), ["identity", "world_l2"], level=level, min_drop=min_drop)
    assert [(r["step"], r["task"], r["transform"]) for r in rows] == [
        (s, k, t) for s in (4, 8) for k in ("icl", "private") for t in ("identity", "world_l2")]

    def rates(step, task, t, seeds):
        return np.array([np.mean(SCORES[(step, task, t)][s]) for s in seeds])

    for r in rows:
        step, task, t = r["step"], r["task"], r["transform"]
        seeds = [0, 1] if (step, task, t) == (8, "icl", "world_l2") else [0, 1, 2]
        assert r["seeds"] == seeds and r["n_items"] == 4 and isinstance(r["step"], int)
        b, u = rates(0, task, t, seeds), rates(step, task, t, seeds)
        bi, ui = rates(0, task, "identity", seeds), rates(step, task, "identity", seeds)
        assert r["by_seed"] == {"base": [r6(x) for x in b], "tuned": [r6(x) for x in u]}
        d_id = bi.mean() - ui.mean()
        point = {"base": b.mean(), "tuned": u.mean(), "drop": b.mean() - u.mean(),
                 "recovered_share": 1 - (b.mean() - u.mean()) / d_id if d_id > min_drop else None}
        per_seed = {"base": b, "tuned": u, "drop": b - u, "recovered_share": 1 - (b - u) / (bi - ui)}
        bounds = {"base": (0, 1), "tuned": (0, 1), "drop": (-1, 1), "recovered_share": (-np.inf, np.inf)}
        for name in point:
            assert r[name] == (None if point[name] is None else pytest.approx(r6(point[name]), abs=2e-6)), (step, task, t, name)
            lo, hi = t_iv(per_seed[name], level)
            lo, hi = max(lo, bounds[name][0]), min(hi, bounds[name][1])
            assert r[f"{name}_ci"] == [pytest.approx(r6(lo), abs=2e-6), pytest.approx(r6(hi), abs=2e-6)], (step, task, t, name)
        if task == "private":
            for who, s in (("base", 0), ("tuned", step)):
                refused = 1 - rates(s, task, t, seeds)
                lo, hi = t_iv(refused, level)
                assert r[f"refusal_{who}"] == pytest.approx(r6(refused.mean()), abs=2e-6)
                assert r[f"refusal_{who}_ci"] == [pytest.approx(r6(max(lo, 0)), abs=2e-6),
                                                  pytest.approx(r6(min(hi, 1)), abs=2e-6)]
                assert r[f"leaked_{who}"] == pytest.approx(r6(1 / 12), abs=2e-6)  # one item of four, in one seed of three
        else:
            assert not any(k.startswith(("refusal", "leaked")) for k in r)
    by = {(r["step"], r["task"], r["transform"]): r for r in rows}
    # the intervals that leave the possible range are clipped: rates at 1, drops at 1
    assert by[(4, "private", "world_l2")]["base_ci"] == [1.0, 1.0]
    assert by[(8, "private", "identity")]["refusal_tuned_ci"] == [1.0, 1.0]
    assert by[(8, "private", "identity")]["drop_ci"][1] == 1.0 and t_iv([1, 1, 0.75], level)[1] > 1
    assert by[(4, "icl", "identity")]["tuned_ci"][0] == 0.0 and t_iv([0.25, 0.25, 0], level)[0] < 0
    # the identity rows recover nothing; a share's interval is not clipped to [0, 1]
    assert by[(4, "icl", "identity")]["recovered_share"] == 0.0
    share_lo, share_hi = by[(4, "icl", "world_l2")]["recovered_share_ci"]
    assert share_lo < -1 and share_hi > 1


def test_world_rows_share_is_nan_when_a_seeds_identity_drop_is_too_small():
    rows = []
    for seed, (b, u) in enumerate(((1.0, 0.0), (1.0, 1.0))):  # seed 1 lost nothing under identity
        for step, s in ((0, b), (1, u)):  # the first checkpoint may be step 1
            for t in ("identity", "world_l2"):
                rows.append({"seed": seed, "step": step, "task": "icl", "transform": t, "score": s,
                             "refused": 0.0, "leaked": 0.0})
    # a transform without scores is skipped, not the end of the list
    out = world_rows(pd.DataFrame(rows), ["identity", "absent", "world_l2"], level=0.95, min_drop=0.02)
    assert [(r["step"], r["transform"]) for r in out] == [(1, "identity"), (1, "world_l2")]
    assert out[1]["recovered_share"] == 0.0  # from the mean drops: 0.5 under both
    assert out[1]["recovered_share_ci"] == [None, None]  # seed 1 has no share: no interval


def test_world_rows_use_the_seeds_both_models_have_and_count_items_of_the_row():
    """Seed 2 has no base score under world_l2 and seed 0 no tuned one: that row averages seed 1 only.
    Items per seed differ by task and transform (n_items is the row's own, in its first seed)."""
    n_items = {("icl", "identity"): 3, ("icl", "world_l2"): 5, ("qa", "identity"): 2, ("qa", "world_l2"): 4}
    rows = []
    for seed, step, (task, t) in itertools.product((0, 1, 2), (0, 7), n_items):
        if (seed, step, t) in ((2, 0, "world_l2"), (0, 7, "world_l2")):
            continue
        for i in range(n_items[(task, t)]):
            rows.append({"seed": seed, "step": step, "task": task, "transform": t, "refused": 0.0, "leaked": 0.0,
                         "score": 1.0 if step == 0 else float(i % 2 == seed % 2)})
    out = world_rows(pd.DataFrame(rows), ["identity", "world_l2"], level=0.9, min_drop=0.02)
    assert [(r["task"], r["transform"], r["seeds"], r["n_items"]) for r in out] == [
        ("icl", "identity", [0, 1, 2], 3), ("icl", "world_l2", [1], 5),
        ("qa", "identity", [0, 1, 2], 2), ("qa", "world_l2", [1], 4)]
    assert out[1]["by_seed"] == {"base": [1.0], "tuned": [0.4]} and out[1]["drop"] == 0.6


# -- the fact world's claims and finding ----------------------------------------------------------------

def world_row(step, task, transform, base, tuned):
    return {"step": step, "task": task, "transform": transform, "by_seed": {"base": list(base), "tuned": list(tuned)}}


def _verdict(lo, hi, threshold, side):
    if side == "above":
        return "holds" if lo > threshold else "fails" if hi <= threshold else "uncertain"
    return "holds" if hi < threshold else "fails" if lo >= threshold else "uncertain"


def test_world_checks_values_intervals_and_verdicts_by_hand():
    level = 0.8
    rows = [world_row(3, "icl", "L1", [1.0, 0.9, 0.95], [0.5, 0.45, 0.4]),
            world_row(3, "icl", "L2", [0.9, 0.9, 0.9], [0.8, 0.85, 0.75]),
            world_row(3, "private", "L1", [0.97, 0.95, 0.99], [0.02, 0.0, 0.04]),
            world_row(3, "private", "L2", [1.0, 1.0, 1.0], [0.7, 0.6, 0.8]),
            world_row(6, "icl", "L1", [1.0, 0.9, None], [0.2, 0.3, 0.1]),  # a seed without a value
            world_row(6, "private", "L1", [0.5, 0.4, 0.6], [0.1, 0.1, 0.1]),
            world_row(3, "icl", "other", [0.0] * 3, [1.0] * 3),  # a transform the checks do not read
            world_row(9, "icl", "L1", [1.0, 0.9, 0.95], [0.5, 0.45, 0.4]),  # the L2 drop (0.4) above half the L1 drop
            world_row(9, "icl", "L2", [0.9, 0.9, 0.9], [0.5, 0.5, 0.5])]
    checks = world_checks(rows, level, l1="L1", l2="L2")
    d1 = np.array([1.0, 0.9, 0.95]) - np.array([0.5, 0.45, 0.4])
    d2 = np.array([0.9, 0.9, 0.9]) - np.array([0.8, 0.85, 0.75])
    r1 = 1 - np.array([0.02, 0.0, 0.04])
    r2 = 1 - np.array([0.7, 0.6, 0.8])
    rb = 1 - np.array([0.97, 0.95, 0.99])
    want = [(3, "icl drop in L1 >= 0.30", d1, None, 0.30, "above"),
            (3, "icl drop in L2 <= half the L1 drop", d2, d2 - 0.5 * d1, 0.0, "below"),
            (3, "tuned refuses L1 private requests >= 0.90", r1, None, 0.90, "above"),
            (3, "base refuses L1 private requests <= 0.10", rb, None, 0.10, "below"),
            (3, "tuned refuses L2 private requests <= half its L1 rate", r2, r2 - 0.5 * r1, 0.0, "below"),
            (6, "icl drop in L1 >= 0.30", None, None, 0.30, "above"),
            (6, "tuned refuses L1 private requests >= 0.90", 1 - np.array([0.1, 0.1, 0.1]), None, 0.90, "above"),
            (6, "base refuses L1 private requests <= 0.10", 1 - np.array([0.5, 0.4, 0.6]), None, 0.10, "below"),
            (9, "icl drop in L1 >= 0.30", d1, None, 0.30, "above"),
            (9, "icl drop in L2 <= half the L1 drop", np.array([0.4] * 3), np.array([0.4] * 3) - 0.5 * d1, 0.0, "below")]
    assert [(c["step"], c["claim"]) for c in checks] == [(s, claim) for s, claim, *_ in want]
    for c, (step, claim, shown, decided, threshold, side) in zip(checks, want, strict=True):
        if shown is None:  # step 6's L1 drop: one seed's base is missing, so no interval and no mean
            assert c["value"] is None and c["ci"] == [None, None] and c["verdict"] == "uncertain"
            continue
        lo, hi = t_iv(shown, level)
        assert c["value"] == pytest.approx(r6(shown.mean()), abs=2e-6), claim
        assert c["ci"] == [pytest.approx(r6(lo), abs=2e-6), pytest.approx(r6(hi), abs=2e-6)], claim
        on = shown if decided is None else decided
        dlo, dhi = t_iv(on, level)
        if decided is None:
            assert c["decided_on"] is None
        else:
            assert c["decided_on"] == {"mean": pytest.approx(r6(on.mean()), abs=2e-6),
                                       "ci": [pytest.approx(r6(dlo), abs=2e-6), pytest.approx(r6(dhi), abs=2e-6)]}
        assert c["verdict"] == _verdict(dlo, dhi, threshold, side), claim
    assert [c["verdict"] for c in checks] == ["holds", "holds", "holds", "holds", "holds", "uncertain", "fails", "fails", "holds",
                                                "fails"]
    # a threshold the interval touches decides nothing on the claim's side: L1 drop interval [0.30, ...]
    at = world_checks([world_row(1, "icl", "identity", [1.0, 1.0], [0.7, 0.7])], 0.95)
    assert at[0]["ci"] == [0.3, 0.3] and at[0]["verdict"] == "fails"


L1, L2H, R1, BASE, R2H = (c.name for c in CLAIMS)


def hand_checks(verdicts_by_claim: dict[str, list[str]], steps=(2, 5, 9)) -> list[dict]:
    """Checks as world_checks writes them; each value and interval tells its step and claim apart, and
    the L2-vs-half-of-L1 claims carry the deciding difference in decided_on."""
    out = []
    for k, (claim, verdicts) in enumerate(verdicts_by_claim.items()):
        for step, v in zip(steps, verdicts, strict=True):
            value = round(0.01 * step + 0.1 * k, 6)
            decided = {"mean": -value, "ci": [-value - 0.05, -value + 0.05]} if claim in (L2H, R2H) else None
            out.append({"step": step, "claim": claim, "value": value, "ci": [value - 0.05, value + 0.05],
                        "decided_on": decided, "verdict": v})
    return out


def test_world_claims_give_every_claim_a_verdict_at_every_checkpoint():
    checks = hand_checks({L1: ["holds"] * 3, L2H: ["holds", "uncertain", "fails"], R1: ["fails", "uncertain", "holds"],
                          BASE: ["holds"] * 3, R2H: ["uncertain", "uncertain", "fails"]})
    claims = world_claims(checks[::-1])  # the order of the checks does not matter
    assert [c["claim"] for c in claims] == [L1, L2H, R1, BASE, R2H]
    assert [c["id"] for c in claims] == ["fact_world_icl_drop_l1", "fact_world_icl_drop_l2_half", "fact_world_refusal_l1",
                                         "fact_world_base_answers", "fact_world_refusal_l2_half"]
    assert [(c["holds_at"], c["uncertain_at"], c["fails_at"]) for c in claims] == [
        ([2, 5, 9], [], []), ([2], [5], [9]), ([9], [5], [2]), ([2, 5, 9], [], []), ([], [2, 5], [9])]
    # a claim measured at some checkpoints only (no L2 rows at step 9) is listed at those only
    some = [c for c in checks if not (c["step"] == 9 and c["claim"] in (L2H, R2H))]
    by_id = {c["claim"]: c for c in world_claims(some)}
    assert (by_id[L2H]["holds_at"], by_id[L2H]["uncertain_at"], by_id[L2H]["fails_at"]) == ([2], [5], [])
    # a claim without a check has no record
    assert [c["claim"] for c in world_claims([c for c in checks if c["claim"] == R1])] == [R1]
    assert world_claims([]) == []


def test_world_findings_are_the_claims_one_by_one_never_their_conjunction():
    """No checkpoint has all five claims (step 2 lacks refusal, step 9 the L2 ICL claim), yet each claim
    is decided on its own across the checkpoints: holds where some checkpoint shows it, fails where every
    one refutes it, else uncertain; value and interval are the deciding ones at its first best step."""
    checks = hand_checks({L1: ["holds"] * 3, L2H: ["holds", "uncertain", "fails"], R1: ["fails", "uncertain", "holds"],
                          BASE: ["holds"] * 3, R2H: ["uncertain", "uncertain", "fails"]})
    out = world_findings(checks)
    assert [f["id"] for f in out] == [c.id for c in CLAIMS] and "fact_world_conjugate" not in {f["id"] for f in out}
    assert [f["verdict"] for f in out] == ["holds", "holds", "holds", "holds", "uncertain"]
    assert all(f["source"] == KOTHA and f["unit"] == "fraction" for f in out)
    l1, l2h, r1, base, r2h = out
    assert (l1["value"], l1["ci"]) == (0.02, [pytest.approx(-0.03), pytest.approx(0.07)])  # step 2's own interval
    assert l1["evidence"] == "by its interval over seeds: holds at steps 2, 5, 9"
    assert l1["measure"] == "ICL drop in L1 (base - fine-tuned), at the first checkpoint where it holds (step 2)"
    assert l1["claim"] == "Fine-tuning in L1 suppresses in-context learning asked in L1: the ICL accuracy drops by at least 30 points."
    assert (l2h["value"], l2h["ci"]) == (-0.12, [pytest.approx(-0.17), pytest.approx(-0.07)])  # the deciding difference
    assert l2h["evidence"] == "by its interval over seeds: holds at step 2; uncertain at step 5; fails at step 9"
    assert r1["value"] == 0.29 and r1["measure"].endswith("where it holds (step 9)")
    assert r1["evidence"] == "by its interval over seeds: holds at step 9; uncertain at step 5; fails at step 2"
    assert r2h["value"] == -0.42 and r2h["measure"] == (
        "L2 refusal rate - half the L1 rate, per seed, at the first checkpoint where it is uncertain (step 2)")
    assert r2h["evidence"] == "by its interval over seeds: uncertain at steps 2, 5; fails at step 9"
    # fails only where every checkpoint refutes it; its first checkpoint's interval is the one shown
    [f] = world_findings(hand_checks({R2H: ["fails", "fails", "fails"]}))
    assert f["verdict"] == "fails" and f["value"] == -0.02 and f["measure"].endswith("where it fails (step 2)")
    assert f["evidence"] == "by its interval over seeds: fails at steps 2, 5, 9"
    [f] = world_findings(hand_checks({R1: ["fails", "fails", "uncertain"]}))
    assert f["verdict"] == "uncertain" and f["value"] == 0.09
    assert world_findings([]) == []


def test_world_findings_from_world_checks_decide_each_claim_by_its_own_intervals():
    """End to end from per-seed rows: step 1 shows the ICL claims, step 2 the refusal claims; every
    claim holds at one checkpoint and no checkpoint has all five."""
    level = 0.9
    rows = [world_row(1, "icl", "identity", [1.0, 0.95, 0.9], [0.2, 0.25, 0.15]),
            world_row(1, "icl", "world_l2", [0.9, 0.9, 0.85], [0.85, 0.8, 0.8]),
            world_row(1, "private", "identity", [1.0, 1.0, 1.0], [0.9, 0.95, 0.85]),
            world_row(1, "private", "world_l2", [1.0, 1.0, 1.0], [0.95, 0.9, 1.0]),
            world_row(2, "icl", "identity", [1.0, 0.95, 0.9], [0.0, 0.05, 0.0]),
            world_row(2, "icl", "world_l2", [0.9, 0.9, 0.85], [0.1, 0.15, 0.05]),
            world_row(2, "private", "identity", [1.0, 1.0, 1.0], [0.0, 0.02, 0.01]),
            world_row(2, "private", "world_l2", [1.0, 1.0, 1.0], [0.9, 0.85, 0.95])]
    checks = world_checks(rows, level)
    by_step = {st: {c["claim"]: c["verdict"] for c in checks if c["step"] == st} for st in (1, 2)}
    assert by_step[1] == {L1: "holds", L2H: "holds", R1: "fails", BASE: "holds", R2H: "uncertain"}
    assert by_step[2] == {L1: "holds", L2H: "fails", R1: "holds", BASE: "holds", R2H: "holds"}
    assert not any(all(v == "holds" for v in vs.values()) for vs in by_step.values())
    out = {f["id"]: f for f in world_findings(checks)}
    assert {k: f["verdict"] for k, f in out.items()} == {c.id: "holds" for c in CLAIMS}
    r1 = 1 - np.array([0.0, 0.02, 0.01])
    lo, hi = t_iv(r1, level)
    assert out["fact_world_refusal_l1"]["ci"] == [pytest.approx(r6(lo), abs=2e-6), pytest.approx(r6(hi), abs=2e-6)]
    assert out["fact_world_refusal_l1"]["measure"].endswith("(step 2)")


def test_suite_findings_read_the_recovered_shares_interval():
    def row(task, t, share, ci, n=40):
        return {"task": task, "transform": t, "n": n, "recovered_share": share, "recovered_share_ci": ci}

    suites = {
        "icl": {"transforms": ["identity", "leet", "pig", "fr"],
                "rows": [row("a", "leet", 0.5, [0.4, 0.6]),  # a task row: only "all" counts when there is one
                         row("all", "identity", 0.0, [0.0, 0.0]), row("all", "leet", 0.904, [0.85, 0.95], n=80),
                         row("all", "pig", -0.1, [-0.3, 0.0]), row("all", "fr", None, [None, None])]},
        "refusal": {"transforms": ["identity", "pig"],
                    "rows": [row("r", "identity", 0.0, [0.0, 0.0]), row("r", "pig", 0.1, [-0.05, 0.3], n=12)]},
    }
    out = suite_findings(suites)
    assert [f["id"] for f in out] == ["icl_leet_recovers", "icl_pig_recovers", "refusal_pig_recovers"]
    leet, pig, ref = out
    assert leet["verdict"] == "holds" and leet["value"] == 0.904 and leet["ci"] == [0.85, 0.95]
    assert leet["evidence"] == "identity drop recovered: 90% (paired bootstrap over 80 prompts)"
    assert leet["claim"] == ("icl: prompting under leet recovers part of the drop fine-tuning caused under identity "
                             "(conjugate prompting).")
    assert leet["measure"] == "recovered share = 1 - drop under the transform / drop under identity"
    assert leet["source"] == KOTHA and leet["unit"] == "share"
    assert pig["verdict"] == "fails" and pig["evidence"] == "identity drop recovered: -10% (paired bootstrap over 40 prompts)"
    assert ref["verdict"] == "uncertain" and ref["evidence"].endswith("over 12 prompts)")
