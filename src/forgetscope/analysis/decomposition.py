"""Forgetting = recovered (pseudo) + unrecovered (actual), per checkpoint and per probe item.

With base score B, checkpoint score F_t, restored score R_t and restored-base score R_0 (the same
restoration applied to the base: the control):

    forgetting_t  = B - F_t
    recovered_t   = R_t - F_t
    unrecovered_t = B - R_t            (so forgetting = recovered + unrecovered)
    gap_t         = R_0 - R_t          (what restoration could not bring back, against the control)

This module computes these statistics and their intervals; the labels come from the stage rule
(analysis/stage_rule.py, stated in docs/concepts.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forgetscope.analysis.stage_rule import point_label
from forgetscope.analysis.stats import bootstrap_distribution, seed_interval

STATS = ("score", "restored", "forgetting", "recovered", "unrecovered", "gap")


def statistics(B, F, R, R0) -> dict[str, np.ndarray]:
    return {
        "score": F,
        "restored": R,
        "forgetting": B - F,
        "recovered": R - F,
        "unrecovered": B - R,
        "gap": R0 - R,
    }


@dataclass
class SeedTables:
    per_step: pd.DataFrame  # one row per (seed, step)
    per_item: pd.DataFrame  # one row per (seed, step, item)


def item_matrix(items: pd.DataFrame, condition: str) -> pd.DataFrame:
    """items x steps matrix of scores for one seed, probe and condition."""
    sub = items[items["condition"] == condition]
    return sub.pivot_table(index="item_id", columns="step", values="score", aggfunc="mean").sort_index()


def decompose_seed(items: pd.DataFrame, *, delta: float, n_boot: int, level: float, seed: int,
                   restored_condition: str = "restored") -> SeedTables:
    """Per-step decomposition with paired item-bootstrap CIs, for one seed and one probe.

    `items` has columns condition ("checkpoint" | restored_condition), step, item_id, score; step 0
    of "checkpoint" is the base and step 0 of the restored condition is the restored base.
    """
    ck = item_matrix(items, "checkpoint")
    rs = item_matrix(items, restored_condition).reindex(index=ck.index)
    steps = [s for s in ck.columns if s != 0 and s in rs.columns]
    if 0 not in ck.columns or 0 not in rs.columns:
        raise ValueError("the decomposition needs the base (step 0) both as is and restored")
    # conditions: B, R0, then F_t, R_t for every step
    cols = [ck[0].to_numpy(), rs[0].to_numpy()]
    for s in steps:
        cols += [ck[s].to_numpy(), rs[s].to_numpy()]
    mat = np.stack(cols, axis=1)
    mat = mat[~np.isnan(mat).any(axis=1)]
    if not len(mat):
        raise ValueError("no probe item has a score at the base and at every step: nothing to decompose")
    point = mat.mean(0)
    boots = bootstrap_distribution(mat, n_boot=n_boot, seed=seed)
    alpha = (1 - level) / 2
    rows = []
    B, R0 = point[0], point[1]
    rows.append(_row(0, B, B, R0, R0, delta, boots[:, 0], boots[:, 0], boots[:, 1], boots[:, 1], alpha))
    for j, s in enumerate(steps):
        f, r = 2 + 2 * j, 3 + 2 * j
        rows.append(_row(s, B, point[f], point[r], R0, delta, boots[:, 0], boots[:, f], boots[:, r], boots[:, 1], alpha))
    per_step = pd.DataFrame(rows)
    for k, src in (("base", "score"), ("restored_base", "restored")):  # the step-0 row holds B and R0
        per_step[k] = per_step.loc[0, src]
        per_step[f"{k}_lo"], per_step[f"{k}_hi"] = per_step.loc[0, f"{src}_lo"], per_step.loc[0, f"{src}_hi"]
    per_item = _per_item(ck, rs, steps)
    return SeedTables(per_step, per_item)


def _row(step, B, F, R, R0, delta, bB, bF, bR, bR0, alpha) -> dict:
    row = {"step": step, **{k: float(v) for k, v in statistics(B, F, R, R0).items()}}
    row["label"] = point_label(B, F, R, R0, delta)
    boot_stats = statistics(bB, bF, bR, bR0)
    for k, v in boot_stats.items():
        row[f"{k}_lo"], row[f"{k}_hi"] = (float(x) for x in np.quantile(v, [alpha, 1 - alpha]))
    row["label_confidence"] = float((point_label(bB, bF, bR, bR0, delta) == row["label"]).mean())
    return row


def _per_item(ck: pd.DataFrame, rs: pd.DataFrame, steps: list[int]) -> pd.DataFrame:
    """Per item and checkpoint: forgetting, recovered, unrecovered and a state for the breakdown plot."""
    out = []
    b = ck[0]
    for s in steps:
        f, r = ck[s], rs[s]
        state = np.select(
            [b < 0.5, f >= 0.5, r >= 0.5],
            ["unknown_at_base", "kept", "pseudo"],
            default="actual",
        )
        out.append(pd.DataFrame({
            "item_id": ck.index, "step": s, "base": b.to_numpy(), "score": f.to_numpy(), "restored": r.to_numpy(),
            "forgetting": (b - f).to_numpy(), "recovered": (r - f).to_numpy(), "unrecovered": (b - r).to_numpy(),
            "state": state,
        }))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def aggregate_seeds(per_step: pd.DataFrame, *, delta: float, level: float) -> pd.DataFrame:
    """Mean over seeds per step, a t-interval over seeds for every statistic (with a single seed: its
    item-bootstrap interval), the label of the means and each seed's own label."""
    rows = []
    for step, g in per_step.groupby("step", sort=True):
        g = g.sort_values("seed")
        row: dict = {"step": int(step), "n_seeds": len(g), "ci_method": "seeds" if len(g) > 1 else "items"}
        for k in (*STATS, "base", "restored_base"):
            m, lo, hi = seed_interval(g[k].to_numpy(), level)
            if len(g) == 1:  # one seed: the paired bootstrap over items
                lo, hi = float(g[f"{k}_lo"].iat[0]), float(g[f"{k}_hi"].iat[0])
            row[k], row[f"{k}_lo"], row[f"{k}_hi"] = m, lo, hi
        row["label"] = point_label(row["base"], row["score"], row["restored"], row["restored_base"], delta)
        row["label_by_seed"] = g["label"].tolist()
        rows.append(row)
    return pd.DataFrame(rows)

