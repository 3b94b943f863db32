"""Print a trajectory run's results as Markdown tables (what docs/real-models.md shows).

    python examples/smollm2/summarize.py runs/trajectory-smollm2
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def probe_table(name: str, p: dict) -> list[str]:
    source = f" (lm-eval task, {p['metric']})" if p.get("source") == "lm_eval" else ""
    lines = [f"**{name}**{source}: base {pct(p['base'])}, restored base {pct(p['restored_base'])}, "
             f"transition step {p.get('transition_step')}", "",
             "| step | score | restored | forgetting [95% CI] | recovered | label | label the CIs support |",
             "|---:|---:|---:|---:|---:|---|---|"]
    for c in p["checkpoints"]:
        lo, hi = c["ci"]["forgetting"]
        lines.append(f"| {c['step']} | {pct(c['score'])} | {pct(c['restored'])} | {pct(c['forgetting'])} [{pct(lo)}, {pct(hi)}] | "
                     f"{pct(c['recovered'])} | {c['label']} | {c.get('label_ci', '–')} |")
    return [*lines, ""]


def main(run: str) -> None:
    s = json.loads((Path(run) / "summary.json").read_text())
    out = probe_table(s["probe"], s)
    for name, p in sorted(s["probes"].items()):
        if name != s["probe"] and "checkpoints" in p:
            out += probe_table(name, p)
    out += ["| condition | step | bits/byte |", "|---|---:|---:|"]
    out += [f"| {b['condition']} | {b['step']} | {b['bits_per_byte']:.3f} |" for b in s["bits_per_byte"]]
    out += ["", "| format | step | KL (nats/token) | shifted share |", "|---|---:|---:|---:|"]
    out += [f"| {p['format']} | {p['step']} | {p['kl']:.3f} | {pct(p['shifted'])} |" for p in s["pattern_shift"]]
    if s.get("lm_eval"):
        out += ["", "| lm-eval task | metric | condition | step | value | stderr |", "|---|---|---|---:|---:|---:|"]
        out += [f"| {r['task']} | {r['metric']} | {r['condition']} | {r['step']} | {r['value']:.3f} | "
                f"{'–' if r['stderr_by_seed'][0] is None else format(r['stderr_by_seed'][0], '.3f')} |" for r in s["lm_eval"]]
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
