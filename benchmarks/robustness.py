"""Do the trajectory demo's findings hold on other seeds and thread counts, and by how much?

    python benchmarks/robustness.py --out runs/robustness                 # run, then print the table
    python benchmarks/robustness.py --out runs/robustness --table-only    # the table of finished runs

Runs the trajectory demo config (`--config`, default the embedded one) on disjoint seed sets, each
with its own shared world and base (`base_seed` = the set's first seed: the sets differ in world,
base, fine-tuning and restoration), and the first set again with `runtime.threads=2`. Then prints,
per run, each finding's verdict and the margin of its deciding intervals: how many standard errors
the interval's end lies beyond δ (interval end − δ, over the interval's half-width / t; the restored base must also stay within δ of the base, by its own
standard error, or the labels that lean on it are uncertain). A verdict
that holds with a margin of 2 or more survives a shift of its mean by two standard errors (another
CPU's rounding, another seed set) — the demo is designed for that (docs/fact-world.md).

Every run is an ordinary `forgetscope run`: interrupted, the same command resumes it.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
from scipy import stats

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "src" / "forgetscope" / "configs" / "demo-trajectory.yaml"


def runs_to_make(sets: list[int], n_seeds: int, threads: list[int]) -> list[tuple[str, list[str]]]:
    """(run name, --set overrides): every seed set with the first thread count, the first set with the others."""
    out = []
    for i, first in enumerate(sets):
        for t in threads if i == 0 else threads[:1]:
            seeds = list(range(first, first + n_seeds))
            out.append((f"seeds-{first}-threads-{t}", [f"seeds={seeds}", f"base_seed={first}", f"runtime.threads={t}"]))
    return out


def half_se(lo: float, hi: float, n: int, level: float) -> float:
    """The standard error behind a t-interval [lo, hi] over n seeds."""
    t = stats.t.ppf(1 - (1 - level) / 2, n - 1)
    return (hi - lo) / (2 * t)


def margins(run: Path) -> dict[str, tuple[str, float | None, str]]:
    """finding id -> (verdict, margin in SE of its deciding intervals, where)."""
    summary = json.loads((run / "summary.json").read_text())
    delta, level, probe = summary["delta"], summary["ci_level"], summary["probe"]
    dec = pd.read_parquet(run / "results" / "decomposition.parquet")
    dec = dec[(dec["probe"] == probe) & (dec["step"] > 0)]
    lm = [r["condition"] for r in summary["restorers"] if r["name"] == "lm_training"]
    lead = dec[dec["restorer"] == summary["restorers"][0]["condition"]].set_index("step")

    def m_above(row, key):  # (lo − δ) / SE
        return (row[f"{key}_lo"] - delta) / half_se(row[f"{key}_lo"], row[f"{key}_hi"], row["n_seeds"], level)

    def m_below(row, key):  # (δ − hi) / SE
        return (delta - row[f"{key}_hi"]) / half_se(row[f"{key}_lo"], row[f"{key}_hi"], row["n_seeds"], level)

    def m_control(row):  # the control is sound while restoration lowers the base by at most δ: (δ − drop) / SE
        drop = row["base"] - row["restored_base"]
        return (delta - drop) / half_se(row["restored_base_lo"], row["restored_base_hi"], row["n_seeds"], level)

    pseudo = {s: min(m_above(r, "forgetting"), m_below(r, "gap"), m_control(r)) for s, r in lead.iterrows()}
    actual = {}
    for s, r in lead.iterrows():
        parts = [m_above(r, "forgetting")]
        for cond in lm:
            x = dec[(dec["restorer"] == cond) & (dec["step"] == s)]
            parts += [m_above(x.iloc[0], "gap"), m_control(x.iloc[0])] if len(x) else [-math.inf]
        actual[s] = min(parts)
    verdicts = {f["id"]: f["verdict"] for f in summary["findings"]}
    out: dict[str, tuple[str, float | None, str]] = {}
    sp = max(pseudo, key=pseudo.get)
    out["pseudo_forgetting"] = (verdicts.get("pseudo_forgetting", "?"), pseudo[sp], f"step {sp}")
    sa = max(actual, key=actual.get)
    out["actual_forgetting"] = (verdicts.get("actual_forgetting", "?"), actual[sa], f"step {sa} (every LM-training budget)")
    # the transition holds while some checkpoint pseudo by its interval comes before one actual by its
    # interval (and none pseudo after an actual: late checkpoints are far from pseudo): its margin is
    # that of the most robust such pair
    pairs = [(min(pseudo[p], actual[a]), p, a) for p in pseudo for a in actual if p < a]
    if pairs:
        m, p_step, a_step = max(pairs)
        out["stage_transition"] = (verdicts.get("stage_transition", "?"), m, f"pseudo at {p_step}, actual at {a_step}")
    else:
        out["stage_transition"] = (verdicts.get("stage_transition", "?"), None, "no checkpoint before another")
    return out


def table(folder: Path, names: list[str]) -> str:
    rows = {n: margins(folder / n) for n in names if (folder / n / "summary.json").is_file()}
    ids = ["pseudo_forgetting", "actual_forgetting", "stage_transition"]
    lines = ["| run | " + " | ".join(ids) + " |", "|---|" + "---|" * len(ids)]
    for n, m in rows.items():
        cells = [f"{m[i][0]}, margin {m[i][1]:+.1f} SE ({m[i][2]})" if m[i][1] is not None else f"{m[i][0]} ({m[i][2]})"
                 for i in ids]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder of the runs (one sub-folder each)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the trajectory config (default: the demo's)")
    p.add_argument("--sets", default="0,100,200", help="first seed of each disjoint seed set (default 0,100,200)")
    p.add_argument("--seeds", type=int, default=6, help="seeds per set (default 6, the demo's)")
    p.add_argument("--threads", default="1,2", help="thread counts; the first set runs with each (default 1,2)")
    p.add_argument("--set", dest="extra", action="append", default=[], help="a further override for every run")
    p.add_argument("--table-only", action="store_true", help="print the table of the finished runs; run nothing")
    a = p.parse_args(argv)
    plan = runs_to_make([int(x) for x in a.sets.split(",")], a.seeds, [int(x) for x in a.threads.split(",")])
    if not a.table_only:
        for name, overrides in plan:
            cmd = ["forgetscope", "run", str(a.config), "--out", str(a.out / name)]
            for o in [*overrides, *a.extra]:
                cmd += ["--set", o]
            print("$", " ".join(cmd), file=sys.stderr, flush=True)
            subprocess.run(cmd, check=True)
    print(table(a.out, [n for n, _ in plan]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
