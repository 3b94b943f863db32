"""Print one markdown table of the seed findings of several runs, side by side.

    python benchmarks/findings_table.py LABEL=RUN_DIR [LABEL=RUN_DIR ...]

RUN_DIR is a demo folder (with trajectory/, conjugate/, regression/ inside) or one study's run folder.
Each cell is the finding's value, its interval and its verdict as summary.json states them (fractions
in points), then each finding's evidence line; used for the robustness tables in docs/concepts.md
(other seeds, other thread counts).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def summaries(folder: Path) -> list[dict]:
    own = folder / "summary.json"
    if own.is_file():
        return [json.loads(own.read_text())]
    return [json.loads((folder / s / "summary.json").read_text())
            for s in ("trajectory", "conjugate", "regression") if (folder / s / "summary.json").is_file()]


def cell(f: dict) -> str:
    v, (lo, hi) = f.get("value"), f.get("ci") or (None, None)
    if v is None:
        return f"– {f['verdict']}"
    scale = 100 if f.get("unit") == "fraction" else 1
    digits = {"fraction": 1, "step": 0}.get(f.get("unit"), 3)
    num = (lambda x: f"{x * scale:.{digits}f}" if x is not None else "–")
    ci = f" [{num(lo)}, {num(hi)}]" if lo is not None else ""
    return f"{num(v)}{ci} {f['verdict']}"


def main(argv: list[str]) -> int:
    if not argv or any("=" not in a for a in argv):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    runs = [(a.split("=", 1)[0], Path(a.split("=", 1)[1])) for a in argv]
    table: dict[tuple[str, str], dict[str, str]] = {}
    evidence: dict[tuple[str, str], dict[str, str]] = {}
    for label, folder in runs:
        found = summaries(folder)
        if not found:
            print(f"{folder}: no summary.json (not a finished run or demo folder)", file=sys.stderr)
            return 2
        for s in found:
            for f in s.get("findings", []):
                table.setdefault((s["study"], f["id"]), {})[label] = cell(f)
                evidence.setdefault((s["study"], f["id"]), {})[label] = f.get("evidence") or ""
    labels = [label for label, _ in runs]
    print("| study | finding | " + " | ".join(labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for (study, fid), cells in table.items():
        print(f"| {study} | {fid} | " + " | ".join(cells.get(label, "") for label in labels) + " |")
    print("\nEvidence (summary.json):\n")
    for (study, fid), cells in evidence.items():
        for label in labels:
            if cells.get(label):
                print(f"- {study} {fid}, {label}: {cells[label]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
