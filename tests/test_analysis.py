"""The analysis functions on hand-made tables, against hand computation and brute force."""

import math

import numpy as np
import pandas as pd
import pytest

from forgetscope.analysis.decomposition import aggregate_seeds, decompose_seed
from forgetscope.analysis.stage_rule import point_label as label
from forgetscope.analysis.stats import bootstrap_distribution, seed_interval


def test_label_rule_cases():
    # B, F, R, R0
    assert label(0.9, 0.88, 0.9, 0.9, 0.05) == "none"  # lost 2 points: within delta
    assert label(0.9, 0.60, 0.88, 0.9, 0.05) == "pseudo"  # lost 30, restored within delta of R0
    assert label(0.9, 0.60, 0.80, 0.9, 0.05) == "actual"  # restored 10 below R0
    assert label(0.9, 0.89, 0.80, 0.9, 0.05) == "none"  # lost 1 point: restoration falling short does not make it a finding
    assert label(0.9, 0.60, 0.88, 0.8, 0.05) == "uncertain"  # restoration lowered the base itself by 10: damaged control
    assert label(0.9, 0.60, 0.85, 0.9, 0.05) == "pseudo"  # exactly delta below R0 is still pseudo
    arr = label(np.array([0.9, 0.9]), np.array([0.6, 0.6]), np.array([0.9, 0.7]), np.array([0.9, 0.9]), 0.05)
    assert list(arr) == ["pseudo", "actual"]


def _table(base, restored_base, steps: dict[int, tuple[list, list]]):
    """Items table from per-item 0/1 lists: steps = {step: (checkpoint scores, restored scores)}."""
    rows = []
    for i, (b, r0) in enumerate(zip(base, restored_base, strict=True)):
        rows += [{"condition": "checkpoint", "step": 0, "item_id": f"i{i}", "score": b},
                 {"condition": "restored", "step": 0, "item_id": f"i{i}", "score": r0}]
    for s, (f, r) in steps.items():
        for i, (fi, ri) in enumerate(zip(f, r, strict=True)):
            rows += [{"condition": "checkpoint", "step": s, "item_id": f"i{i}", "score": fi},
                     {"condition": "restored", "step": s, "item_id": f"i{i}", "score": ri}]
    return pd.DataFrame(rows)


def test_decompose_seed_point_values_and_identity():
    base = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    rbase = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]
    steps = {
        10: ([1, 1, 1, 0, 0, 0, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),  # lost 3, all back
        100: ([1, 0, 0, 0, 0, 0, 1, 1, 0, 0], [1, 1, 0, 0, 0, 1, 1, 1, 0, 0]),  # lost 5, 2 back
    }
    t = decompose_seed(_table(base, rbase, steps), delta=0.05, n_boot=500, level=0.95, seed=0)
    ps = t.per_step.set_index("step")
    assert ps.loc[0, "base"] == pytest.approx(0.8) and ps.loc[0, "restored_base"] == pytest.approx(0.9)
    assert ps.loc[10, "score"] == pytest.approx(0.5) and ps.loc[10, "restored"] == pytest.approx(0.8)
    assert ps.loc[10, "forgetting"] == pytest.approx(0.3)
    assert ps.loc[10, "recovered"] == pytest.approx(0.3)
    assert ps.loc[10, "unrecovered"] == pytest.approx(0.0)
    assert ps.loc[10, "gap"] == pytest.approx(0.1)
    for s in (10, 100):  # forgetting = recovered + unrecovered, always
        assert ps.loc[s, "forgetting"] == pytest.approx(ps.loc[s, "recovered"] + ps.loc[s, "unrecovered"])
    assert ps.loc[10, "label"] == "actual"  # R (0.8) is 0.1 below R0 (0.9) > delta
    assert ps.loc[100, "label"] == "actual"
    # per-item states of step 10: items 3,4,5 lost then restored = pseudo; 8,9 unknown at base
    pi = t.per_item[t.per_item["step"] == 10].set_index("item_id")
    assert list(pi.loc[["i3", "i4", "i5"], "state"]) == ["pseudo"] * 3
    assert list(pi.loc[["i8", "i9"], "state"]) == ["unknown_at_base"] * 2
    assert pi.loc["i0", "state"] == "kept"
    pi100 = t.per_item[t.per_item["step"] == 100].set_index("item_id")
    assert pi100.loc["i2", "state"] == "actual"


def test_bootstrap_replicates_are_paired_item_resamples():
    """Against what a bootstrap over items must be, not against its own random draws: every replicate
    is one resample of rows shared by all conditions (so a column and its complement stay
    complements, equal columns stay equal), its mean is the sample mean and its variance the plug-in
    variance / n (the bootstrap's analytic moments)."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2, size=60).astype(float)
    c = rng.normal(size=60)
    cols = np.stack([a, 1 - a, a, c], axis=1)
    boots = bootstrap_distribution(cols, n_boot=4000, seed=7)
    assert boots.shape == (4000, 4)
    np.testing.assert_allclose(boots[:, 1], 1 - boots[:, 0], atol=1e-12)
    np.testing.assert_array_equal(boots[:, 2], boots[:, 0])
    assert len(np.unique(boots[:, 0])) > 15  # replicates differ
    np.testing.assert_allclose(boots.mean(0), cols.mean(0), atol=4 * cols.std(0).max() / np.sqrt(60 * 4000))
    np.testing.assert_allclose(boots.var(0), cols.var(0) / 60, rtol=0.1)  # var of a replicate mean: sigma_hat^2 / n
    # each replicate is a mean of 60 rows: the sums are whole numbers for the 0/1 column
    np.testing.assert_allclose(boots[:, 0] * 60, np.round(boots[:, 0] * 60), atol=1e-9)
    np.testing.assert_array_equal(bootstrap_distribution(cols, n_boot=50, seed=7), bootstrap_distribution(cols, n_boot=50, seed=7))
    assert not np.array_equal(bootstrap_distribution(cols, n_boot=50, seed=7), bootstrap_distribution(cols, n_boot=50, seed=8))


def test_bootstrap_interval_covers_point_and_shrinks_with_items():
    base = [1] * 50 + [1] * 50
    steps_small = {10: ([1] * 30 + [0] * 20, [1] * 50)}
    small = decompose_seed(_table(base[:50], base[:50], steps_small), delta=0.05, n_boot=1000, level=0.95, seed=0)
    steps_big = {10: (([1] * 30 + [0] * 20) * 4, [1] * 200)}
    big = decompose_seed(_table(base * 2, base * 2, steps_big), delta=0.05, n_boot=1000, level=0.95, seed=0)
    s, b = small.per_step.set_index("step").loc[10], big.per_step.set_index("step").loc[10]
    assert s["forgetting_lo"] <= s["forgetting"] <= s["forgetting_hi"]
    assert (b["forgetting_hi"] - b["forgetting_lo"]) < (s["forgetting_hi"] - s["forgetting_lo"])
    assert s["label"] == "pseudo" and s["label_confidence"] > 0.95


def test_seed_interval_is_t_interval():
    m, lo, hi = seed_interval(np.array([0.5, 0.6, 0.7]), 0.95)
    half = 4.302652729911275 * np.std([0.5, 0.6, 0.7], ddof=1) / np.sqrt(3)
    assert m == pytest.approx(0.6) and lo == pytest.approx(0.6 - half) and hi == pytest.approx(0.6 + half)
    m1, lo1, hi1 = seed_interval(np.array([0.4]))
    assert m1 == 0.4 and np.isnan(lo1) and np.isnan(hi1)


def _seed_row(seed, step, score, restored, label, base=0.9, restored_base=0.9, half=0.1):
    """One per-seed row as decompose_seed writes it; the label is written by hand, not computed."""
    r = {"seed": seed, "step": step, "score": score, "restored": restored, "base": base, "restored_base": restored_base,
         "forgetting": base - score, "recovered": restored - score, "unrecovered": base - restored,
         "gap": restored_base - restored, "label": label}
    for k in ("score", "restored", "forgetting", "recovered", "unrecovered", "gap", "base", "restored_base"):
        r[f"{k}_lo"], r[f"{k}_hi"] = r[k] - half, r[k] + half
    return r


def test_aggregate_seeds_labels_means_and_transition():
    rows = [
        _seed_row(0, 0, 0.9, 0.9, "none"), _seed_row(1, 0, 0.9, 0.9, "none"), _seed_row(2, 0, 0.9, 0.9, "none"),
        # step 10: lost ~30 points; seeds 0 and 1 restore to within delta, seed 2 falls 0.07 short of R0
        _seed_row(0, 10, 0.60, 0.89, "pseudo"), _seed_row(1, 10, 0.62, 0.91, "pseudo"), _seed_row(2, 10, 0.58, 0.83, "actual"),
        # step 100: restoration brings back little
        _seed_row(0, 100, 0.50, 0.60, "actual"), _seed_row(1, 100, 0.52, 0.62, "actual"), _seed_row(2, 100, 0.48, 0.58, "actual"),
    ]
    per_seed = pd.DataFrame(rows).sample(frac=1.0, random_state=3)  # order must not matter
    agg = aggregate_seeds(per_seed, delta=0.05, level=0.95).set_index("step")
    assert list(agg.index) == [0, 10, 100] and (agg["n_seeds"] == 3).all() and (agg["ci_method"] == "seeds").all()
    # by hand: mean restored at step 10 is 0.8767, 0.0233 below R0 (within delta); forgetting 0.3 (beyond)
    assert agg.loc[10, "restored"] == pytest.approx((0.89 + 0.91 + 0.83) / 3)
    assert agg.loc[10, "score"] == pytest.approx(0.6) and agg.loc[10, "forgetting"] == pytest.approx(0.3)
    assert agg.loc[10, "label"] == "pseudo" and agg.loc[100, "label"] == "actual" and agg.loc[0, "label"] == "none"
    assert agg.loc[10, "label_by_seed"] == ["pseudo", "pseudo", "actual"]  # in seed order
    half = 4.302652729911275 * np.std([0.89, 0.91, 0.83], ddof=1) / np.sqrt(3)  # t(0.975, 2) by table
    assert agg.loc[10, "restored_lo"] == pytest.approx(agg.loc[10, "restored"] - half)
    assert agg.loc[10, "restored_hi"] == pytest.approx(agg.loc[10, "restored"] + half)
    assert agg.loc[0, "base_lo"] == pytest.approx(0.9) and agg.loc[0, "base_hi"] == pytest.approx(0.9)  # no spread


def test_aggregate_single_seed_keeps_its_item_bootstrap_interval():
    rows = [_seed_row(4, 0, 0.9, 0.9, "none", half=0.03), _seed_row(4, 10, 0.6, 0.88, "pseudo", half=0.07)]
    agg = aggregate_seeds(pd.DataFrame(rows), delta=0.05, level=0.95).set_index("step")
    assert (agg["n_seeds"] == 1).all() and (agg["ci_method"] == "items").all()
    for k in ("score", "restored", "forgetting", "recovered", "unrecovered", "gap", "base", "restored_base"):
        assert agg.loc[10, k] == pytest.approx(rows[1][k])
        assert agg.loc[10, f"{k}_lo"] == pytest.approx(rows[1][k] - 0.07) and agg.loc[10, f"{k}_hi"] == pytest.approx(rows[1][k] + 0.07)
    assert agg.loc[10, "label"] == "pseudo" and agg.loc[10, "label_by_seed"] == ["pseudo"]


# -- the label rule at delta, both sides --------------------------------------------------------
@pytest.mark.parametrize(("B", "F", "R", "R0", "delta", "want"), [
    # forgetting B - F against delta (R = R0: restoration complete)
    (1.0, 0.75, 1.0, 1.0, 0.25, "none"),  # exactly delta (exact in binary): within delta
    (1.0, 0.75 - 1e-6, 1.0, 1.0, 0.25, "pseudo"),  # just beyond
    (1.0, 0.75 + 1e-6, 1.0, 1.0, 0.25, "none"),  # just within
    (0.9, 0.85, 0.9, 0.9, 0.05, "none"),  # 0.9 - 0.85 = 0.05000000000000004 in floats: still "exactly delta"
    (0.9, 0.85 - 1e-6, 0.9, 0.9, 0.05, "pseudo"),
    # restoration gap R0 - R against delta (F far below B)
    (1.0, 0.5, 0.75, 1.0, 0.25, "pseudo"),  # gap exactly delta: not actual
    (1.0, 0.5, 0.75 - 1e-6, 1.0, 0.25, "actual"),
    (1.0, 0.5, 0.75 + 1e-6, 1.0, 0.25, "pseudo"),
    (0.9, 0.5, 0.85, 0.9, 0.05, "pseudo"),  # float rounding of an exact-delta gap
    (0.9, 0.5, 0.85 - 1e-6, 0.9, 0.05, "actual"),
    # nothing lost is none whatever restoration does; negative differences are never forgetting
    (0.9, 0.9, 0.7, 0.9, 0.05, "none"),
    (0.5, 0.9, 0.9, 0.5, 0.05, "none"),
    (0.9, 0.5, 0.99, 0.9, 0.0, "pseudo"),  # delta 0: any loss counts, restored above R0
    (0.9, 0.9, 0.9, 0.9, 0.0, "none"),
])
def test_label_at_delta_boundaries(B, F, R, R0, delta, want):
    assert label(B, F, R, R0, delta) == want
    # the vectorised path gives the same answers
    got = label(np.array([B, B]), np.array([F, 1.0]), np.array([R, R0]), np.array([R0, R0]), delta)
    assert list(got) == [want, "none"]


# -- interval coverage by simulation: synthetic data with a known truth --------------------------
# Items: a difficulty p ~ Beta(0.3, 0.3) per item and step (mostly near 0 or 1, so the checkpoint's
# and the restored model's answers to one item are strongly correlated: the pairing matters); the
# checkpoint answers correctly with probability KF p, the restored model with KR p.
_A = 0.3
_EP, _EP2 = 0.5, _A * (_A + 1) / ((2 * _A) * (2 * _A + 1))  # E[p], E[p^2] of Beta(a, a)
_KF, _KR = 0.5, 0.8


def _simulated_tables(rng, n_tables: int, n_items: int, n_steps: int):
    ids = [f"i{i}" for i in range(n_items)]
    for _ in range(n_tables):
        cols = {("checkpoint", 0): rng.random(n_items) < rng.beta(_A, _A, n_items),
                ("restored", 0): rng.random(n_items) < rng.beta(_A, _A, n_items)}
        for s in range(1, n_steps + 1):
            p = rng.beta(_A, _A, n_items)
            cols["checkpoint", s] = rng.random(n_items) < _KF * p
            cols["restored", s] = rng.random(n_items) < _KR * p
        yield pd.concat([pd.DataFrame({"condition": c, "step": s, "item_id": ids, "score": v.astype(float)})
                         for (c, s), v in cols.items()], ignore_index=True)


def test_item_bootstrap_interval_covers_at_its_level():
    """Each step is an independent replication (fresh items); over 300 of them a 95% interval must
    cover the true value ~95% of the time, and its width must be 2 x 1.96 x the estimator's analytic
    standard deviation (a 90% interval is 16% narrower and covers ~90%)."""
    n_items, rng = 80, np.random.default_rng(0)
    ps = pd.concat([decompose_seed(t, delta=0.05, n_boot=300, level=0.95, seed=k).per_step.query("step > 0")
                    for k, t in enumerate(_simulated_tables(rng, 6, n_items, 50))])
    assert len(ps) == 300
    truth = {"score": _KF * _EP, "recovered": (_KR - _KF) * _EP}
    var = {"score": _KF * _EP * (1 - _KF * _EP),  # Bernoulli(KF E[p])
           "recovered": (_KR + _KF) * _EP - 2 * _KR * _KF * _EP2 - ((_KR - _KF) * _EP) ** 2}  # Var(R_i - F_i), paired
    for k, t in truth.items():
        covered = ((ps[f"{k}_lo"] <= t) & (t <= ps[f"{k}_hi"])).mean()
        assert 0.925 <= covered <= 0.975, (k, covered)
        width = (ps[f"{k}_hi"] - ps[f"{k}_lo"]).mean() / (2 * 1.959964 * np.sqrt(var[k] / n_items))
        assert 0.93 <= width <= 1.03, (k, width)


def test_seed_t_interval_covers_at_its_level():
    """Per-seed values ~ Normal(mu, sigma), three seeds: the 95% t-interval covers mu 95% of the time
    and its mean half-width is t(0.975, 2) c4(3) sigma / sqrt(3) (c4: E[s] / sigma)."""
    rng, n_steps, n_seeds, sigma = np.random.default_rng(1), 400, 3, 0.05
    score = rng.normal(0.6, sigma, (n_steps, n_seeds))
    restored = rng.normal(0.8, sigma, (n_steps, n_seeds))
    rows = [_seed_row(j, i + 1, score[i, j], restored[i, j], "pseudo", base=0.9, restored_base=0.9)
            for i in range(n_steps) for j in range(n_seeds)]
    agg = aggregate_seeds(pd.DataFrame(rows), delta=0.05, level=0.95)
    c4 = math.sqrt(2 / (n_seeds - 1)) * math.gamma(n_seeds / 2) / math.gamma((n_seeds - 1) / 2)
    for k, mu in (("score", 0.6), ("gap", 0.1)):
        covered = ((agg[f"{k}_lo"] <= mu) & (mu <= agg[f"{k}_hi"])).mean()
        assert 0.925 <= covered <= 0.975, (k, covered)
        half = ((agg[f"{k}_hi"] - agg[f"{k}_lo"]) / 2).mean() / (4.302652729911275 * c4 * sigma / math.sqrt(n_seeds))
        assert 0.93 <= half <= 1.07, (k, half)


def test_step0_row_per_item_states_and_columns():
    """Step 0 compares the base with itself: zero forgetting with a zero-width interval. Per item,
    a score of exactly 0.5 counts as known (>= 0.5), and the recovered column is R - F."""
    base = [1, 1, 1, 1, 0.5, 1, 0, 1]
    steps = {3: ([0.5, 0, 0, 1, 1, 0, 0, 0.4], [1, 0.5, 0.4, 1, 1, 0, 1, 0.5])}
    rbase = [1, 0, 1, 0, 1, 0, 1, 1]  # the restored base differs from the base
    t = decompose_seed(_table(base, rbase, steps), delta=0.05, n_boot=200, level=0.95, seed=0)
    s0 = t.per_step.set_index("step").loc[0]
    assert s0["forgetting"] == 0 and s0["forgetting_lo"] == 0 and s0["forgetting_hi"] == 0
    assert s0["gap_lo"] == 0 and s0["gap_hi"] == 0
    pi = t.per_item.set_index("item_id")
    assert list(pi["state"]) == ["kept", "pseudo", "actual", "kept", "kept", "actual", "unknown_at_base", "pseudo"]
    np.testing.assert_allclose(pi["recovered"], np.array(steps[3][1]) - np.array(steps[3][0]))
    np.testing.assert_allclose(pi["unrecovered"], np.array(base) - np.array(steps[3][1]))


def test_two_seeds_use_the_seed_interval():
    rows = [_seed_row(0, 5, 0.6, 0.8, "pseudo"), _seed_row(1, 5, 0.7, 0.85, "pseudo")]
    agg = aggregate_seeds(pd.DataFrame(rows), delta=0.05, level=0.95).iloc[0]
    assert agg["ci_method"] == "seeds" and agg["n_seeds"] == 2
    half = 12.706204736174698 * np.std([0.6, 0.7], ddof=1) / np.sqrt(2)  # t(0.975, 1)
    assert agg["score_lo"] == pytest.approx(0.65 - half) and agg["score_hi"] == pytest.approx(0.65 + half)


def test_seed_interval_defaults_and_two_values():
    m, lo, hi = seed_interval(np.array([1.0, 2.0]))  # default level: 95%
    half = 12.706204736174698 * np.std([1.0, 2.0], ddof=1) / np.sqrt(2)
    assert (m, lo, hi) == pytest.approx((1.5, 1.5 - half, 1.5 + half))
    assert seed_interval(np.array([1, 2, 4])) == pytest.approx(seed_interval(np.array([1.0, 2.0, 4.0])))



# -- inputs at the edges: dtypes, messages, missing items (eighth mutation pass) -----------------
def test_label_reads_integer_boolean_and_object_scores_as_numbers():
    """0/1 correctness often arrives as bool or unsigned integers: a score that rose after fine-tuning
    (B = 0, F = 1) is no forgetting, and a restoration above its control (R0 = 0, R = 1) no gap.
    Unsigned subtraction would wrap 0 - 1 to 255 and bool subtraction is refused, so the rule must
    read every input as floats; by hand: (B, F, R, R0) = (0, 1, 1, 0) -> none, (1, 0, 1, 1) -> pseudo,
    (1, 0, 0, 1) -> actual."""
    B, F, R, R0 = [0, 1, 1], [1, 0, 0], [1, 1, 0], [0, 1, 1]
    want = ["none", "pseudo", "actual"]
    for dtype in (np.uint8, np.uint64, bool, object):
        got = label(*(np.array(v, dtype=dtype) for v in (B, F, R, R0)), 0.05)
        assert list(got) == want, dtype
    assert label(np.uint8(0), np.uint8(1), np.uint8(1), np.uint8(0), 0.05) == "none"
    assert label(True, False, True, True, 0.05) == "pseudo"


def test_label_of_scalars_is_a_str_and_of_arrays_an_array():
    one = label(0.9, 0.6, 0.88, 0.9, 0.05)
    assert type(one) is str and one == "pseudo"  # not a 0-d array: it goes into tables and JSON as text
    many = label(np.array([0.9]), np.array([0.6]), np.array([0.88]), np.array([0.9]), 0.05)
    assert isinstance(many, np.ndarray) and many.shape == (1,) and list(many) == ["pseudo"]


def test_label_refuses_non_finite_scores_with_its_message():
    from forgetscope.errors import NonFiniteError

    msg = "the stage rule was given a non-finite score; no label is made from it"
    for bad in ((float("nan"), 0.5, 0.6, 0.9), (0.9, 0.5, float("inf"), 0.9), (0.9, 0.5, 0.6, np.array([0.9, -np.inf]))):
        with pytest.raises(NonFiniteError) as e:
            label(*bad, 0.05)
        assert str(e.value) == msg


def test_decompose_seed_needs_both_bases_and_one_complete_item():
    base, steps = [1, 1, 0], {5: ([1, 0, 0], [1, 1, 0])}
    full = _table(base, base, steps)
    no_restored_base = full[~((full["condition"] == "restored") & (full["step"] == 0))]
    no_base = full[~((full["condition"] == "checkpoint") & (full["step"] == 0))]
    for t in (no_restored_base, no_base):
        with pytest.raises(ValueError) as e:
            decompose_seed(t, delta=0.05, n_boot=50, level=0.95, seed=0)
        assert str(e.value) == "the decomposition needs the base (step 0) both as is and restored"
    # every item misses one score somewhere: no item is complete
    holes = full[~(((full["item_id"] == "i0") & (full["step"] == 5)) | ((full["item_id"] == "i1") & (full["step"] == 0))
                   | ((full["item_id"] == "i2") & (full["condition"] == "restored")))]
    with pytest.raises(ValueError) as e:
        decompose_seed(holes, delta=0.05, n_boot=50, level=0.95, seed=0)
    assert str(e.value) == "no probe item has a score at the base and at every step: nothing to decompose"


def test_decompose_seed_uses_only_items_scored_in_every_condition():
    """An item the restored model was not scored on, and one only the restored model was scored on,
    are left out: the numbers are the means over the items scored everywhere (by hand below)."""
    base, rbase = [1, 1, 1, 0], [1, 1, 0, 1]
    steps = {4: ([0, 1, 0, 0], [1, 1, 0, 1])}
    t = _table(base, rbase, steps)
    t = t[~((t["condition"] == "restored") & (t["item_id"] == "i1"))]  # i1: no restored score at all
    extra = pd.DataFrame([{"condition": "restored", "step": s, "item_id": "j9", "score": 0.0} for s in (0, 4)])
    t = pd.concat([t, extra], ignore_index=True)  # j9: restored only
    ps = decompose_seed(t, delta=0.05, n_boot=200, level=0.95, seed=0).per_step.set_index("step")
    # items i0, i2, i3: B = 2/3, R0 = 2/3, F_4 = 0, R_4 = 2/3
    assert ps.loc[4, "base"] == pytest.approx(2 / 3) and ps.loc[4, "restored_base"] == pytest.approx(2 / 3)
    assert ps.loc[4, "score"] == pytest.approx(0.0) and ps.loc[4, "restored"] == pytest.approx(2 / 3)
    assert ps.loc[4, "forgetting"] == pytest.approx(2 / 3) and ps.loc[4, "gap"] == pytest.approx(0.0)
    assert ps.loc[4, "label"] == "pseudo"


def test_decompose_seed_intervals_are_a_function_of_the_seed():
    base, rbase = [1] * 12 + [0] * 4, [1] * 14 + [0] * 2
    steps = {7: ([1, 0] * 8, [1, 1, 1, 0] * 4)}
    t = _table(base, rbase, steps)
    a, b, c = (decompose_seed(t, delta=0.05, n_boot=200, level=0.95, seed=s).per_step for s in (3, 3, 4))
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_decompose_seed_intervals_pair_each_statistic_with_its_own_columns():
    """Every base score 0.6, every checkpoint score 0.3, each restored score 0.1 below the same
    item's restored base (which varies, none below 0.55: no resample lowers it δ below the base). Paired
    resampling keeps per-item differences: forgetting's interval is exactly [0.3, 0.3] and the
    gap's [0.1, 0.1], the base's [0.6, 0.6]; the restored base's interval is the restored score's
    shifted up by 0.1, and unrecovered's is 0.6 minus it."""
    r0 = [0.9, 0.7, 1.0, 0.6, 0.8, 0.95, 0.65, 0.85, 0.6, 0.7, 0.55, 0.9]
    base, r = [0.6] * len(r0), [x - 0.1 for x in r0]
    t = _table(base, r0, {2: ([0.3] * len(r0), r), 9: ([0.3] * len(r0), r)})
    ps = decompose_seed(t, delta=0.05, n_boot=400, level=0.9, seed=1).per_step.set_index("step")
    for s in (2, 9):
        row = ps.loc[s]
        assert row["restored_hi"] - row["restored_lo"] > 0.05  # the restored scores do vary
        for k, v in (("forgetting", 0.3), ("gap", 0.1)):
            assert (row[k], row[f"{k}_lo"], row[f"{k}_hi"]) == pytest.approx((v, v, v), abs=1e-12), k
        assert row["unrecovered_lo"] == pytest.approx(0.6 - row["restored_hi"], abs=1e-12)
        assert row["unrecovered_hi"] == pytest.approx(0.6 - row["restored_lo"], abs=1e-12)
        assert row["label"] == "actual" and row["label_confidence"] == 1.0
    for s in (0, 2, 9):
        row = ps.loc[s]
        assert (row["base"], row["base_lo"], row["base_hi"]) == pytest.approx((0.6, 0.6, 0.6), abs=1e-12)
        assert row["restored_base"] == pytest.approx(np.mean(r0))
        assert row["restored_base_lo"] == pytest.approx(ps.loc[2, "restored_lo"] + 0.1, abs=1e-12)
        assert row["restored_base_hi"] == pytest.approx(ps.loc[2, "restored_hi"] + 0.1, abs=1e-12)


def test_per_item_table_by_hand():
    """Every column of the per-item table for two steps, written out by hand; one row per item and
    step under a fresh 0..n-1 index; with no step but the base, no rows at all."""
    base, rbase = [1.0, 0.75, 0.0], [1.0, 1.0, 1.0]
    steps = {5: ([0.25, 0.75, 1.0], [1.0, 0.5, 1.0]), 8: ([0.0, 0.5, 0.0], [0.5, 0.25, 0.0])}
    pi = decompose_seed(_table(base, rbase, steps), delta=0.05, n_boot=50, level=0.95, seed=0).per_item
    want = pd.DataFrame({
        "item_id": ["i0", "i1", "i2"] * 2, "step": [5, 5, 5, 8, 8, 8],
        "base": [1.0, 0.75, 0.0] * 2, "score": [0.25, 0.75, 1.0, 0.0, 0.5, 0.0],
        "restored": [1.0, 0.5, 1.0, 0.5, 0.25, 0.0],
        "forgetting": [0.75, 0.0, -1.0, 1.0, 0.25, 0.0], "recovered": [0.75, -0.25, 0.0, 0.5, -0.25, 0.0],
        "unrecovered": [0.0, 0.25, -1.0, 0.5, 0.5, 0.0],
        "state": ["pseudo", "kept", "unknown_at_base", "pseudo", "kept", "unknown_at_base"],
    })
    assert list(pi.columns) == list(want.columns)
    assert pi.index.equals(pd.RangeIndex(6))
    for c in ("item_id", "state"):
        assert list(pi[c]) == list(want[c]), c
    for c in want.columns.drop(["item_id", "state"]):
        assert list(pi[c]) == pytest.approx(list(want[c])), c
    only_base = decompose_seed(_table(base, rbase, {}), delta=0.05, n_boot=50, level=0.95, seed=0)
    assert only_base.per_item.empty and list(only_base.per_step["step"]) == [0]


def test_aggregate_seeds_interval_at_the_level_asked():
    """A 90% interval over three seeds: t(0.95, 2) = 2.919986 (by table), not the 95% default's 4.3027."""
    rows = [_seed_row(j, 5, s, 0.85, "pseudo") for j, s in enumerate((0.5, 0.6, 0.7))]
    agg = aggregate_seeds(pd.DataFrame(rows), delta=0.05, level=0.90).iloc[0]
    half = 2.919985580355516 * np.std([0.5, 0.6, 0.7], ddof=1) / np.sqrt(3)
    assert agg["score_lo"] == pytest.approx(0.6 - half) and agg["score_hi"] == pytest.approx(0.6 + half)


def test_summary_numbers_are_rounded_and_null_where_not_finite():
    """One helper (analysis.stats.num) for every study's summary.json: 6 decimals; None, NaN (any float
    type) and infinities become null, never NaN or Infinity in the JSON."""
    from forgetscope.analysis.stats import num

    assert num(0.12345678) == 0.123457 and num(np.float32(0.5)) == 0.5 and num(3) == 3.0 and type(num(np.int64(3))) is float
    for bad in (None, float("nan"), np.float32("nan"), np.float64("inf"), -math.inf):
        assert num(bad) is None, bad
