"""The analysis functions on hand-made tables, against hand computation and brute force."""

import numpy as np
import pandas as pd
import pytest

from forgetscope.analysis.decomposition import (
    aggregate_seeds,
    decompose_seed,
    label,
    separation,
    transition_step,
)
from forgetscope.analysis.stats import bootstrap_distribution, seed_interval


def test_label_rule_cases():
    # B, F, R, R0
    assert label(0.9, 0.88, 0.9, 0.9, 0.05) == "none"  # lost 2 points: within delta
    assert label(0.9, 0.60, 0.88, 0.9, 0.05) == "pseudo"  # lost 30, restored within delta of R0
    assert label(0.9, 0.60, 0.80, 0.9, 0.05) == "actual"  # restored 10 below R0
    assert label(0.9, 0.89, 0.80, 0.9, 0.05) == "actual"  # restoration itself falls short: actual
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


def test_bootstrap_ci_matches_brute_force():
    rng = np.random.default_rng(1)
    cols = rng.integers(0, 2, size=(40, 2)).astype(float)
    boots = bootstrap_distribution(cols, n_boot=300, seed=7)
    # brute force: the same resamples drawn one at a time
    r = np.random.default_rng(7)
    counts = r.multinomial(40, np.full(40, 1 / 40), size=300)
    brute = np.stack([cols[np.repeat(np.arange(40), c)].mean(0) for c in counts])
    np.testing.assert_allclose(boots, brute)


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


def test_aggregate_seeds_labels_means_and_transition():
    per_seed = []
    for seed, shift in ((0, 0.0), (1, 0.02), (2, -0.02)):
        rows = [
            {"step": 0, "score": 0.9, "restored": 0.9},
            {"step": 10, "score": 0.6 + shift, "restored": 0.89 + shift},
            {"step": 100, "score": 0.5 + shift, "restored": 0.6 + shift},
        ]
        for r in rows:
            r.update(seed=seed, base=0.9, restored_base=0.9, forgetting=0.9 - r["score"], recovered=r["restored"] - r["score"],
                     unrecovered=0.9 - r["restored"], gap=0.9 - r["restored"], label=label(0.9, r["score"], r["restored"], 0.9, 0.05))
            for k in ("score", "restored", "forgetting", "recovered", "unrecovered", "gap", "base", "restored_base"):
                r[f"{k}_lo"], r[f"{k}_hi"] = r[k] - 0.1, r[k] + 0.1
        per_seed += rows
    agg = aggregate_seeds(pd.DataFrame(per_seed), delta=0.05, level=0.95).set_index("step")
    assert agg.loc[10, "label"] == "pseudo" and agg.loc[100, "label"] == "actual"
    assert agg.loc[10, "score"] == pytest.approx(0.6)
    assert agg.loc[10, "label_by_seed"] == ["pseudo", "pseudo", "pseudo"]
    assert agg.loc[10, "score_lo"] < 0.6 < agg.loc[10, "score_hi"]
    assert transition_step(agg.reset_index()) == 100
    sep = separation(agg.reset_index())
    assert sep["separated"] and sep["actual_steps_separated"] == [100] and sep["pseudo_steps"] == [10]


def test_transition_none_when_nothing_actual():
    df = pd.DataFrame({"step": [0, 10, 20], "label": ["none", "pseudo", "none"]})
    assert transition_step(df) is None
