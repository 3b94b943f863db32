"""Mutation score per module from the results `mutmut run` left in mutants/ (see `make mutation`).

    python benchmarks/mutation_score.py [--mutants mutants] [--survivors FILE]
    python benchmarks/mutation_score.py --stages RESULTS [--mutants mutants]

Score = (killed + timed out) / all mutants; "no tests" (no selected test runs the mutated function)
counts as surviving. --survivors writes the surviving mutants' names, one per line, per module.
--stages reads the lines benchmarks/mutation_stages.py printed (a sample, usually) and gives each
module's score before (killed without tests/oracle and tests/test_invariants.py) and after, with a
95% Wilson interval: the interval is the sample's, for the module's whole population of mutants.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 35: "suspicious",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault",
          37: "killed", None: "not checked"}


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (it stays inside [0, 1] and is sane at k = n)."""
    p, d = k / n, 1 + z * z / n
    centre, half = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, centre - half), min(1.0, centre + half)


def stages_table(results: Path, root: Path) -> None:
    population = {str(m.relative_to(root / "src")).removesuffix(".py.meta").replace("/", "."):
                  len(json.loads(m.read_text())["exit_code_by_key"]) for m in root.glob("src/**/*.py.meta")}
    counts: dict[str, Counter] = {}
    for line in results.read_text().splitlines():
        verdict, _, name = (line.split() + ["", ""])[:3]
        if verdict.startswith(("KILLED", "TIMEOUT", "SURVIVED")) and not name.startswith("control:"):
            counts.setdefault(name.rpartition(".")[0], Counter())[verdict.replace("TIMEOUT", "KILLED")] += 1
    print("| module | mutants | sampled | killed before | before (95% CI) | killed after | after (95% CI) |")
    print("|---|---|---|---|---|---|---|")
    pct = lambda k, n: f"{100 * k / n:.0f}% ({100 * wilson(k, n)[0]:.0f}–{100 * wilson(k, n)[1]:.0f})"  # noqa: E731
    total = Counter()
    for module, c in sorted(counts.items()):
        n, before = sum(c.values()), c["KILLED-BEFORE"]
        after = before + c["KILLED-AFTER"]
        total.update({"n": n, "before": before, "after": after, "N": population.get(module, 0)})
        print(f"| {module.removeprefix('forgetscope.')} | {population.get(module, '?')} | {n} | {before} | {pct(before, n)} | {after} | {pct(after, n)} |")
    if total["n"]:
        print(f"| **the sampled mutants together** (equal draws per module, not weighted by its size) | {total['N']} | {total['n']} | {total['before']} | {pct(total['before'], total['n'])} | "
              f"{total['after']} | {pct(total['after'], total['n'])} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mutants", default="mutants")
    ap.add_argument("--survivors", help="write the surviving mutants' names here")
    ap.add_argument("--stages", help="tabulate benchmarks/mutation_stages.py's output (a sample) instead")
    args = ap.parse_args()
    root = Path(args.mutants)
    if args.stages:
        return stages_table(Path(args.stages), root)
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
