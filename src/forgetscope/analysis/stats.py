"""Confidence intervals: paired bootstrap over probe items, t-intervals over seeds; numbers for summary.json."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from forgetscope.errors import NonFiniteError


def num(x) -> float | None:
    """A number as summary.json holds it: rounded to 6 decimals; null where it is missing or not finite."""
    return None if x is None or not math.isfinite(float(x)) else round(float(x), 6)


def require_finite(table, columns, what: str) -> None:
    """Refuse to analyse a table with a NaN or an infinity in `columns`: no label, check or interval
    is ever made from one. `table` is a DataFrame; `what` names where it came from."""
    for c in columns:
        if c in table.columns:
            values = np.asarray(table[c], dtype=float)
            bad = ~np.isfinite(values)
            if bad.any():
                raise NonFiniteError(f"{what}: {int(bad.sum())} non-finite value(s) in column {c!r}; nothing is labelled from them")


def t_quantile(level: float, df: int) -> float:
    return float(stats.t.ppf(0.5 + level / 2, df))


def seed_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-interval over seeds (first axis). One seed gives NaN bounds."""
    values = np.asarray(values, dtype=float)
    m = float(values.mean())
    n = len(values)
    if n < 2:
        return m, float("nan"), float("nan")
    half = t_quantile(level, n - 1) * float(values.std(ddof=1)) / np.sqrt(n)
    return m, m - half, m + half


def bootstrap_distribution(columns: np.ndarray, *, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap replicates of the condition means: [n_boot, conditions]."""
    n = columns.shape[0]
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)
    return counts @ columns / n
