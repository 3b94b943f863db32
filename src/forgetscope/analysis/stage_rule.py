"""The stage rule, in one place: none / pseudo / actual / uncertain, by point estimates and by intervals.

With base score B, checkpoint score F, restored checkpoint R and restored base R0 (the control):
forgetting = B − F, gap = R0 − R, control drop = B − R0.

Point label (per seed, and of the seed means):
    forgetting ≤ δ     → none       nothing was lost: no restoration result can make it a finding
    control drop > δ   → uncertain  the restoration recipe damages the model; what leans on it is undecided
    gap > δ            → actual
    otherwise          → pseudo
Interval label (`label_ci`, from the seed-mean intervals, or the item bootstrap with one seed):
    forgetting_hi ≤ δ → none; forgetting_lo ≤ δ → uncertain; the seed-mean control drop > δ → uncertain;
    gap_lo > δ → actual (only if every larger budget of the same restorer says actual too, else
    uncertain with saturated false); gap_hi ≤ δ → pseudo; otherwise uncertain.
"≤ δ" means within δ + EPS: a difference of exactly δ is within δ, whatever the float rounding.
docs/concepts.md states the rule for readers; this module is the only code that applies it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from forgetscope.errors import NonFiniteError
from forgetscope.schema import DamagedControl

LABELS = ("none", "pseudo", "actual", "uncertain")
EPS = 1e-9


def within(x, delta: float):
    """x ≤ δ by the rule's tolerance; scalars or numpy arrays."""
    return x <= delta + EPS


def point_label(B, F, R, R0, delta: float):
    """The point label(s) of the rule above; works on scalars and numpy arrays alike."""
    B, F, R, R0 = (np.asarray(x, dtype=float) for x in (B, F, R, R0))
    if not all(np.isfinite(x).all() for x in (B, F, R, R0)):
        raise NonFiniteError("the stage rule was given a non-finite score; no label is made from it")
    out = np.where(within(B - F, delta), "none",
                   np.where(~within(B - R0, delta), "uncertain",
                            np.where(~within(R0 - R, delta), "actual", "pseudo")))
    return out.item() if out.ndim == 0 else out


def control_damaged(base: float, restored_base: float, delta: float) -> bool:
    """Restoration lowered the base itself by more than δ: the recipe damages the model it restores."""
    return not within(base - restored_base, delta)


def interval_label(forgetting_ci: Sequence[float], gap_ci: Sequence[float], control_drop: float, delta: float) -> str:
    """`label_ci` before the saturation check. An undefined (NaN) bound decides nothing: the rule falls
    through to "uncertain"."""
    f_lo, f_hi = forgetting_ci
    g_lo, g_hi = gap_ci
    if within(f_hi, delta):
        return "none"
    if not _above(f_lo, delta) or _above(control_drop, delta):
        return "uncertain"
    if _above(g_lo, delta):
        return "actual"
    return "pseudo" if within(g_hi, delta) else "uncertain"


def _above(x: float, delta: float) -> bool:
    """x > δ by the rule's tolerance; False for NaN."""
    return bool(x > delta + EPS)


def row_interval_label(row, delta: float) -> str:
    """`interval_label` of a decomposition row (a mapping with forgetting_lo/hi, gap_lo/hi, base and
    restored_base, as analysis.decomposition writes them)."""
    return interval_label((row["forgetting_lo"], row["forgetting_hi"]), (row["gap_lo"], row["gap_hi"]),
                          row["base"] - row["restored_base"], delta)


def saturate(label_ci: str, larger: Sequence[str | None]) -> tuple[str, bool | None]:
    """A checkpoint actual at the configured budget stays actual only if every larger budget of the same
    restorer labels it actual too (None: that budget has no row); else restoration had not run its
    course and it is uncertain. Returns (label_ci, saturated), saturated None when it does not apply."""
    if label_ci != "actual" or not larger:
        return label_ci, None
    saturated = all(lab == "actual" for lab in larger)
    return ("actual" if saturated else "uncertain"), saturated


def damaged_control(probe: str, restorer: str, base: float, restored_base: float, delta: float) -> DamagedControl | None:
    """The control's record when restoration damaged it, else None."""
    if not control_damaged(base, restored_base, delta):
        return None
    return DamagedControl(probe=probe, restorer=restorer, base=round(float(base), 6), restored_base=round(float(restored_base), 6),
                          drop=round(float(base - restored_base), 6))


def control_sentences(controls: Sequence[DamagedControl], delta: float) -> list[str]:
    """One sentence per restorer whose control is damaged, with the numbers (report, `run`, `compare`)."""
    out = []
    for restorer in dict.fromkeys(c.restorer for c in controls):
        mine = [c for c in controls if c.restorer == restorer]
        d = f"δ = {100 * delta:g}"
        if len(mine) == 1:
            c = mine[0]
            what = f"on {c.probe} from {100 * c.base:.1f} to {100 * c.restored_base:.1f} (−{100 * c.drop:.1f} points, more than {d})"
        else:
            parts = [f"on {c.probe} from {100 * c.base:.1f} to {100 * c.restored_base:.1f} (−{100 * c.drop:.1f} points)" for c in mine]
            what = f"{', '.join(parts)}, each more than {d}"
        out.append(f"Restoration ({restorer}) lowered the base itself {what}: the restoration recipe damages the model, so "
                   "every pseudo/actual label that leans on it is uncertain; use fewer steps or a lower learning rate.")
    return out
