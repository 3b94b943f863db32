"""Did a speed change move any number? Compares two run folders of one study.

    python benchmarks/same_numbers.py RUN_A RUN_B [--ignore-key fact_world.run]

Compares every field of `summary.json` (numbers, labels, verdicts, strings: flattened to dotted
paths) and every table in `results/*.parquet` (same shape, same columns; numeric columns compared
exactly, and their largest absolute difference printed). Timing columns (`seconds`,
`tokens_per_second`, `wall_s`...) differ from run to run by nature and are left out of the exact
comparison; they are listed. Exit status 0 when nothing compared differs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

TIMING = ("seconds", "tokens_per_second", "wall_s", "cpu_s", "elapsed", "time")


def flatten(node, prefix: str = "") -> dict[str, object]:
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(node, list):
        out = {}
        for i, v in enumerate(node):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: node}


def is_timing(name: str) -> bool:
    return any(t in name.lower() for t in TIMING)


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def compare_summaries(a: Path, b: Path, ignore: set[str]) -> int:
    fa, fb = flatten(json.loads(a.read_text())), flatten(json.loads(b.read_text()))
    keys = sorted(set(fa) | set(fb))
    numeric = [k for k in keys if isinstance(fa.get(k), (int, float)) and not isinstance(fa.get(k), bool)]
    differ = [k for k in keys if k not in ignore and not is_timing(k) and not same(fa.get(k), fb.get(k))]
    for k in differ[:20]:
        print(f"  summary {k}: {fa.get(k)!r} != {fb.get(k)!r}")
    print(f"summary.json: {len(keys)} fields ({len(numeric)} numeric), {len(differ)} differ")
    return len(differ)


def compare_tables(a: Path, b: Path) -> int:
    import numpy as np
    import pandas as pd

    bad = 0
    names = sorted({p.name for p in (a / "results").glob("*.parquet")} | {p.name for p in (b / "results").glob("*.parquet")})
    for name in names:
        pa, pb = a / "results" / name, b / "results" / name
        if not (pa.exists() and pb.exists()):
            print(f"  {name}: only in one run")
            bad += 1
            continue
        da, db = pd.read_parquet(pa), pd.read_parquet(pb)
        if list(da.columns) != list(db.columns) or len(da) != len(db):
            print(f"  {name}: shape or columns differ ({da.shape} vs {db.shape})")
            bad += 1
            continue
        timing = [c for c in da.columns if is_timing(c)]
        cells, worst = 0, 0.0
        for c in da.columns:
            if c in timing:
                continue
            x, y = da[c], db[c]
            if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
                xv, yv = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
                neq = ~((xv == yv) | (np.isnan(xv) & np.isnan(yv)))
                if neq.any():
                    worst = max(worst, float(np.nanmax(np.abs(xv - yv))))
                cells += int(neq.sum())
            else:
                # cells may hold lists (arrays once read back): compared as Python values, element by element
                plain = lambda v: v.tolist() if isinstance(v, np.ndarray) else v  # noqa: E731
                missing = lambda v: v is None or (isinstance(v, float) and np.isnan(v))  # noqa: E731
                cells += sum(not (missing(a) and missing(b)) and plain(a) != plain(b) for a, b in zip(x, y, strict=True))
        note = f" (left out, timing: {', '.join(timing)})" if timing else ""
        print(f"results/{name}: {da.shape[0]} rows, {cells} cells differ, max |delta| {worst:g}{note}")
        bad += cells > 0
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--ignore-key", action="append", default=[], help="a dotted summary field to leave out (a recorded path)")
    args = ap.parse_args()
    bad = compare_summaries(args.a / "summary.json", args.b / "summary.json", set(args.ignore_key))
    bad += compare_tables(args.a, args.b)
    print("IDENTICAL" if bad == 0 else f"DIFFERENT ({bad})")
    sys.exit(0 if bad == 0 else 1)


if __name__ == "__main__":
    main()
