"""The trajectory demo's power calculation, from a run's per-seed decomposition.

    python benchmarks/power_design.py RUN_DIR [--seeds 5,6,8,10]

For the primary probe, per checkpoint: the mean and the standard deviation over the run's seeds of
the forgetting and of the restoration gap (budget 1, and every larger LM-training budget), then for
each seed count n the expected 95% t-interval (mean ± t(n−1) · SD/√n) and its margin: how many
standard errors (SD/√n) the interval's deciding end lies beyond δ. A pseudo label needs
forgetting > δ and gap ≤ δ; an actual one forgetting > δ and every LM-training budget's gap > δ.
The SDs come from the run itself; a design is chosen so that its deciding intervals clear δ by at
least 2 standard errors (docs/fact-world.md, "The demo's design").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd
from scipy import stats


def spreads(run: Path) -> tuple[pd.DataFrame, float, list[str]]:
    summary = json.loads((run / "summary.json").read_text())
    by_seed = pd.read_parquet(run / "results" / "decomposition_by_seed.parquet")
    lm = [r["condition"] for r in summary["restorers"] if r["name"] == "lm_training"]
    d = by_seed[(by_seed["probe"] == summary["probe"]) & (by_seed["step"] > 0)]
    rows = []
    for step, g in d.groupby("step"):
        lead = g[g["restorer"] == lm[0]]
        row = {"step": int(step), "n": len(lead), "forgetting": lead["forgetting"].mean(), "forgetting_sd": lead["forgetting"].std(ddof=1)}
        for cond in lm:
            x = g[g["restorer"] == cond]
            row[f"gap[{cond}]"], row[f"gap[{cond}]_sd"] = x["gap"].mean(), x["gap"].std(ddof=1)
        rows.append(row)
    return pd.DataFrame(rows), summary["delta"], lm


def margin(mean: float, sd: float, n: int, delta: float, side: str) -> float:
    """Margin in standard errors of the expected t-interval's deciding end beyond delta."""
    se = sd / math.sqrt(n)
    t = stats.t.ppf(0.975, n - 1)
    end = mean - t * se if side == "above" else mean + t * se
    return ((end - delta) if side == "above" else (delta - end)) / se if se > 0 else math.inf


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--seeds", default="5,6,8,10", help="seed counts to project (default 5,6,8,10)")
    a = p.parse_args(argv)
    df, delta, lm = spreads(a.run)
    ns = [int(x) for x in a.seeds.split(",")]
    pts = 100
    print(f"{a.run}: {int(df['n'].max())} seeds; delta = {pts * delta:g} points; points, mean (SD over seeds)\n")
    head = ["step", "forgetting", *[f"gap {c}" for c in lm], *[f"pseudo margin, n={n}" for n in ns], *[f"actual margin, n={n}" for n in ns]]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for _, r in df.iterrows():
        cells = [str(r["step"]), f"{pts * r['forgetting']:.1f} ({pts * r['forgetting_sd']:.2f})"]
        cells += [f"{pts * r[f'gap[{c}]']:.1f} ({pts * r[f'gap[{c}]_sd']:.2f})" for c in lm]
        for n in ns:
            f = margin(r["forgetting"], r["forgetting_sd"], n, delta, "above")
            g = margin(r[f"gap[{lm[0]}]"], r[f"gap[{lm[0]}]_sd"], n, delta, "below")
            cells.append(f"{min(f, g):+.1f}")
        for n in ns:
            parts = [margin(r["forgetting"], r["forgetting_sd"], n, delta, "above")]
            parts += [margin(r[f"gap[{c}]"], r[f"gap[{c}]_sd"], n, delta, "above") for c in lm]
            cells.append(f"{min(parts):+.1f}")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
