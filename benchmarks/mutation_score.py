"""Mutation score per module from the results `mutmut run` left in mutants/ (see `make mutation`).

    python benchmarks/mutation_score.py [--mutants mutants] [--survivors FILE]
    python benchmarks/mutation_score.py --stages RESULTS [--mutants mutants]

Score = (killed + timed out) / all mutants; "no tests" (no selected test runs the mutated function)
counts as surviving. --survivors writes the surviving mutants' names, one per line, per module.
--stages reads the lines benchmarks/mutation_stages.py printed (a sample, usually) and gives each
module's score before (killed without tests/oracle and tests/test_invariants.py) and after, with a
95% Wilson interval: the interval is the sample's, for the module's whole population of mutants.
A name printed twice counts once (its first verdict). --settled FILE adds what was decided by hand
about the survivors, one `outside|new|equivalent NAME` a line (killed by a test the harness does not
run, killed by a test written for it, argued equivalent): the last columns are then the score with
those kills, over the sampled mutants that are not equivalent.
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


def stages_table(results: Path, root: Path, settled: Path | None = None) -> None:
    population = {str(m.relative_to(root / "src")).removesuffix(".py.meta").replace("/", "."):
                  len(json.loads(m.read_text())["exit_code_by_key"]) for m in root.glob("src/**/*.py.meta")}
    verdicts: dict[str, str] = {}
    for line in results.read_text().splitlines():
        verdict, _, name = (line.split() + ["", ""])[:3]
        if verdict.startswith(("KILLED", "TIMEOUT", "SURVIVED")) and not name.startswith("control:"):
            verdicts.setdefault(name, verdict.replace("TIMEOUT", "KILLED"))
    hand = dict(reversed(ln.split(maxsplit=1)) for ln in settled.read_text().splitlines() if ln.strip()) if settled else {}
    unknown = [n for n, how in hand.items() if verdicts.get(n) != "SURVIVED" or how not in ("outside", "new", "equivalent")]
    if unknown:
        raise SystemExit(f"--settled: not a survivor of RESULTS, or not outside/new/equivalent: {unknown[:3]}")
    counts: dict[str, Counter] = {}
    for name, verdict in verdicts.items():
        counts.setdefault(name.rpartition(".")[0], Counter()).update([verdict, hand.get(name, "")])
    def pct(k: int, n: int) -> str:
        return f"{100 * k / n:.0f}% ({100 * wilson(k, n)[0]:.0f}–{100 * wilson(k, n)[1]:.0f})" if n else "–"

    head = "| module | mutants | sampled | killed before | before (95% CI) | killed after | after (95% CI) |"
    print(head + (" equivalent | killed, settled | settled, of the non-equivalent (95% CI) |" if settled else ""))
    print("|---|---|---|---|---|---|---|" + ("---|---|---|" if settled else ""))
    total = Counter()
    for module, c in sorted(counts.items()):
        n, before = c["KILLED-BEFORE"] + c["KILLED-AFTER"] + c["SURVIVED"], c["KILLED-BEFORE"]
        after, eq = before + c["KILLED-AFTER"], c["equivalent"]
        done = after + c["outside"] + c["new"]
        total.update({"n": n, "before": before, "after": after, "eq": eq, "done": done, "N": population.get(module, 0)})
        more = f" {eq} | {done} | {pct(done, n - eq)} |" if settled else ""
        print(f"| {module.removeprefix('forgetscope.')} | {population.get(module, '?')} | {n} | {before} | {pct(before, n)} | "
              f"{after} | {pct(after, n)} |{more}")
    if total["n"]:
        more = f" {total['eq']} | {total['done']} | {pct(total['done'], total['n'] - total['eq'])} |" if settled else ""
        print(f"| **the sampled mutants together** (equal draws per module, not weighted by its size) | {total['N']} | {total['n']} | {total['before']} | {pct(total['before'], total['n'])} | "
              f"{total['after']} | {pct(total['after'], total['n'])} |{more}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mutants", default="mutants")
    ap.add_argument("--survivors", help="write the surviving mutants' names here")
    ap.add_argument("--stages", help="tabulate benchmarks/mutation_stages.py's output (a sample) instead")
    ap.add_argument("--settled", help="with --stages: survivors decided by hand, `outside|new|equivalent NAME` a line")
    args = ap.parse_args()
    root = Path(args.mutants)
    if args.stages:
        return stages_table(Path(args.stages), root, Path(args.settled) if args.settled else None)
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
