"""Pure functions of the recipes' analysis: Pareto frontiers, forgetting at a matched target gain, and
a rank correlation with an interval over both the points and the seeds."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

from forgetscope.analysis.stats import t_quantile


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


# Two seeds' jackknife is two values of a discrete statistic (rho over a few points often ties): equal
# values would give a zero-width interval from two seeds. Fewer than three seeds: no interval.
MIN_SEEDS = 3
# Fisher's z of a rank correlation needs n - 3 > 0 (Bonett & Wright 2000).
MIN_POINTS = 4


def spearman_interval(x: Sequence[float], y: Sequence[float], x_by_seed, y_by_seed, *, level: float) -> tuple[float, float, float]:
    """Spearman's rho of the points (x, y) (each a mean over seeds) and the hull of two intervals, each
    of which the claim "forward KL predicts forgetting" needs to hold by: over the points
    (`points_interval`: other recipes and checkpoints would be other points) and over the seeds
    (`seed_jackknife_interval`: another run changes the seeds). NaN where rho is undefined (fewer than 3
    points, a constant side); NaN bounds where either interval is undefined (fewer than MIN_POINTS
    points or MIN_SEEDS seeds)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return float("nan"), float("nan"), float("nan")
    rho = _rho(x[keep], y[keep])
    lo_p, hi_p = points_interval(rho, int(keep.sum()), level=level)
    lo_s, hi_s = seed_jackknife_interval(rho, x_by_seed, y_by_seed, level=level)
    if not all(np.isfinite(v) for v in (lo_p, hi_p, lo_s, hi_s)):
        return rho, float("nan"), float("nan")
    return rho, min(lo_p, lo_s), max(hi_p, hi_s)


def points_interval(rho: float, n: int, *, level: float) -> tuple[float, float]:
    """The interval for a Spearman rho over n independent points: Fisher's z, atanh(rho), with Bonett
    and Wright's (2000) variance (1 + rho^2 / 2) / (n - 3), back through tanh. Checkpoints of one recipe
    lie on one trajectory, so the points are not quite independent: if anything, this is narrow."""
    if not np.isfinite(rho) or n < MIN_POINTS:
        return float("nan"), float("nan")
    z = np.arctanh(np.clip(rho, -1 + 1e-12, 1 - 1e-12))
    half = float(stats.norm.ppf(0.5 + level / 2)) * np.sqrt((1 + rho**2 / 2) / (n - 3))
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def seed_jackknife_interval(rho: float, x_by_seed, y_by_seed, *, level: float) -> tuple[float, float]:
    """A t-interval over seeds around rho from the delete-one-seed jackknife: rho of the means without
    seed i, for each i; standard error sqrt((n - 1) / n * sum (rho_-i - their mean)^2); t quantile with
    n - 1 degrees of freedom; bounds clipped to [-1, 1]. `x_by_seed`, `y_by_seed`: [seeds, points], NaN
    where missing. NaN with fewer than MIN_SEEDS seeds whose jackknife rho is defined."""
    xs, ys = np.asarray(x_by_seed, dtype=float), np.asarray(y_by_seed, dtype=float)
    others = [np.arange(len(xs)) != i for i in range(len(xs))]
    jack = np.asarray([_rho_of_means(xs[o], ys[o]) for o in others]) if len(xs) >= MIN_SEEDS else np.empty(0)
    jack = jack[np.isfinite(jack)]
    n = len(jack)
    if n < MIN_SEEDS or not np.isfinite(rho):
        return float("nan"), float("nan")
    half = t_quantile(level, n - 1) * float(np.sqrt((n - 1) / n * np.sum((jack - jack.mean()) ** 2)))
    return max(-1.0, rho - half), min(1.0, rho + half)


def _rho_of_means(xs: np.ndarray, ys: np.ndarray) -> float:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a point none of these seeds has: NaN, dropped
        x, y = np.nanmean(xs, axis=0), np.nanmean(ys, axis=0)
    keep = np.isfinite(x) & np.isfinite(y)
    return _rho(x[keep], y[keep]) if keep.sum() >= 3 else float("nan")


def _rho(x: np.ndarray, y: np.ndarray) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)
