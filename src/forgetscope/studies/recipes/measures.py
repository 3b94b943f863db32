"""Pure functions of the recipes' analysis: Pareto frontiers, forgetting at a matched target gain, and
a rank correlation with its bootstrap interval over seeds."""

from __future__ import annotations

import warnings
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


def spearman_interval(x: Sequence[float], y: Sequence[float], x_by_seed, y_by_seed, *, n_boot: int, level: float,
                      seed: int) -> tuple[float, float, float]:
    """Spearman's rho of the points (x, y) (each a mean over seeds) and a percentile bootstrap interval
    that resamples seeds, not points: the recipes and checkpoints are the design, fixed; what another
    run would change is the seeds. Each replicate draws as many seeds as there are, with replacement,
    averages every point over them (`x_by_seed`, `y_by_seed`: [seeds, points], NaN where missing) and
    ranks the averages. NaN where rho is undefined (fewer than 3 points, a constant side); NaN bounds
    with fewer than 2 seeds (one seed has no spread to resample)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return float("nan"), float("nan"), float("nan")
    rho = _rho(x[keep], y[keep])
    xs, ys = np.asarray(x_by_seed, dtype=float), np.asarray(y_by_seed, dtype=float)
    n_seeds = xs.shape[0]
    if n_seeds < 2:
        return rho, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    boots = np.asarray([_rho_of_means(xs[i], ys[i]) for i in rng.integers(0, n_seeds, size=(n_boot, n_seeds))])
    boots = boots[np.isfinite(boots)]
    if not len(boots):
        return rho, float("nan"), float("nan")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return rho, float(lo), float(hi)


def _rho_of_means(xs: np.ndarray, ys: np.ndarray) -> float:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a point no drawn seed has: NaN, dropped
        x, y = np.nanmean(xs, axis=0), np.nanmean(ys, axis=0)
    keep = np.isfinite(x) & np.isfinite(y)
    return _rho(x[keep], y[keep]) if keep.sum() >= 3 else float("nan")


def _rho(x: np.ndarray, y: np.ndarray) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)
