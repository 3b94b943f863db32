"""What every oracle needs: t-intervals over seeds, interval verdicts, and a comparison that names
the summary field that disagrees."""

from __future__ import annotations

import math

import numpy as np
import yaml
from scipy import stats

EPS = 1e-9  # "at or below a threshold" allows float rounding, as the documented rules say


def config(run) -> dict:
    return yaml.safe_load((run / "config.yaml").read_text())


def t_interval(values, level: float) -> tuple[float, float, float]:
    """Mean and the t-interval of the mean over seeds (NaN bounds for one seed)."""
    v = np.asarray(values, dtype=float)
    m = float(v.mean())
    if len(v) < 2:
        return m, math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return m, m - half, m + half


def verdict(lo, hi, threshold: float, side: str) -> str:
    """A claim `value > threshold` (side "above") or `value < threshold` ("below") by its interval."""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "uncertain"
    if side == "above":
        return "holds" if lo > threshold + EPS else "fails" if hi <= threshold + EPS else "uncertain"
    return "holds" if hi < threshold - EPS else "fails" if lo >= threshold - EPS else "uncertain"


def same(got, want, where: str, tol: float = 2e-6) -> None:
    """summary.json's value `got` (rounded to 6 decimals; None for NaN) equals the oracle's `want`."""
    if isinstance(want, dict):
        for k, w in want.items():
            assert k in got, f"{where}: no {k!r}"
            same(got[k], w, f"{where}.{k}", tol)
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), f"{where}: {len(got)} values, the oracle has {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{where}[{i}]", tol)
    elif isinstance(want, float) and not isinstance(want, bool):
        if math.isnan(want) or math.isinf(want):
            assert got is None, f"{where}: {got}, the oracle has no value"
        else:
            assert got is not None and abs(got - want) <= tol * max(1.0, abs(want)), f"{where}: {got}, the oracle has {want}"
    else:
        assert got == want, f"{where}: {got!r}, the oracle has {want!r}"


def stat(values, level: float) -> dict:
    """{"mean", "ci", "by_seed"}: a seed statistic as the summaries carry it."""
    m, lo, hi = t_interval(values, level)
    return {"mean": m, "ci": [lo, hi], "by_seed": [float(v) for v in values]}
