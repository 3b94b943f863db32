"""Mutation score per module from the results `mutmut run` left in mutants/ (see `make mutation`).

    python benchmarks/mutation_score.py [--mutants mutants] [--survivors FILE]

Score = (killed + timed out) / all mutants; "no tests" (no selected test runs the mutated function)
counts as surviving. --survivors writes the surviving mutants' names, one per line, per module.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 35: "suspicious",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault",
          37: "killed", None: "not checked"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mutants", default="mutants")
    ap.add_argument("--survivors", help="write the surviving mutants' names here")
    args = ap.parse_args()
    root = Path(args.mutants)
    rows, lost = [], []
    for meta in sorted(root.glob("src/**/*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        c = Counter(STATUS.get(v, f"exit {v}") for v in codes.values())
        module = str(meta.relative_to(root / "src")).removesuffix(".meta")
        detected = c["killed"] + c["timeout"] + c["segfault"]
        rows.append((module, len(codes), c, detected))
        lost += [(module, k) for k, v in sorted(codes.items()) if STATUS.get(v) in ("survived", "no tests", "not checked", "suspicious")]
    print("| module | mutants | killed | timeout | survived | no tests | not checked | score |")
    print("|---|---|---|---|---|---|---|---|")
    tot, det = 0, 0
    for module, n, c, d in rows:
        tot, det = tot + n, det + d
        print(f"| {module} | {n} | {c['killed']} | {c['timeout'] + c['segfault']} | {c['survived'] + c['suspicious']} | "
              f"{c['no tests']} | {c['not checked']} | {100 * d / n:.0f}% |")
    print(f"| **all** | {tot} | | | | | | **{100 * det / max(tot, 1):.0f}%** |")
    if args.survivors:
        Path(args.survivors).write_text("".join(f"{m}\t{k}\n" for m, k in lost))


if __name__ == "__main__":
    main()
