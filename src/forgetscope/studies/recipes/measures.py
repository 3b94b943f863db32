"""Pure functions of the recipes' analysis: Pareto frontiers, forgetting at a matched target gain, and
a rank correlation with its bootstrap interval."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def frontier(gain: Sequence[float], loss: Sequence[float]) -> list[bool]:
    """Which points no other point dominates (at least as much gain and at most as much loss, one of
    them strictly): a recipe's best trade-offs over its checkpoints."""
    g, l_ = np.asarray(gain, dtype=float), np.asarray(loss, dtype=float)
    out = []
    for i in range(len(g)):
        dominated = (g >= g[i]) & (l_ <= l_[i]) & ((g > g[i]) | (l_ < l_[i]))
        out.append(bool(np.isfinite(g[i]) and np.isfinite(l_[i]) and not dominated.any()))
    return out


def at_gain(gains: Sequence[float], values: Sequence[float], target: float) -> float:
    """`values` linearly interpolated at the target gain along a curve given by points (gain, value),
    the base (0, 0) included by the caller; NaN outside the curve's range (no extrapolation). Points
    are taken in order of gain (ties averaged)."""
    g, v = np.asarray(gains, dtype=float), np.asarray(values, dtype=float)
    keep = np.isfinite(g) & np.isfinite(v)
    g, v = g[keep], v[keep]
    if not len(g) or not np.isfinite(target) or target < g.min() or target > g.max():
        return float("nan")
    ug = np.unique(g)
    uv = np.array([v[g == x].mean() for x in ug])
    return float(np.interp(target, ug, uv))


def spearman_interval(x: Sequence[float], y: Sequence[float], *, n_boot: int, level: float, seed: int) -> tuple[float, float, float]:
    """Spearman's rho of the points (x, y) and a percentile bootstrap interval resampling the points;
    NaN where it is undefined (fewer than 3 points, a constant side)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3:
        return float("nan"), float("nan"), float("nan")
    rho = _rho(x, y)
    rng = np.random.default_rng(seed)
    boots = [_rho(x[i], y[i]) for i in rng.integers(0, len(x), size=(n_boot, len(x)))]
    boots = np.asarray([b for b in boots if np.isfinite(b)])
    if not len(boots):
        return rho, float("nan"), float("nan")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return rho, float(lo), float(hi)


def _rho(x: np.ndarray, y: np.ndarray) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)
