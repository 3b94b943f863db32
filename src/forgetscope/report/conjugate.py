"""The conjugate study's report section: accuracy per transform for base vs fine-tuned (grouped
bars), the drop per transform, the fact world per checkpoint and its claims one by one across the
checkpoints (no record joins them: docs/conjugate.md); rendered only from summary.json and results/
(every text autoescaped by the page's Jinja environment)."""

from __future__ import annotations

import numpy as np

from forgetscope.report.figures import COLORS, new_figure, to_data_uri
from forgetscope.report.page import ReportSection, read_table
from forgetscope.schema import ConjugateSummary, FactWorldBlock, SuiteRow, WorldRow
from forgetscope.store import RunStore

SUITE_TITLES = {"icl_if": "ICL vs instruction following", "reasoning": "Reasoning (XNLI-style)",
                "refusal": "Answer rate on refusal prompts", "fact_world": "Fact world"}


def _err(rows: list[SuiteRow | WorldRow], key: str) -> np.ndarray:
    def value(v) -> float:
        return np.nan if v is None else v

    mid = np.array([value(getattr(r, key)) for r in rows], dtype=float)
    lo = np.array([value(getattr(r, f"{key}_ci")[0]) for r in rows], dtype=float)
    hi = np.array([value(getattr(r, f"{key}_ci")[1]) for r in rows], dtype=float)
    return np.nan_to_num(np.stack([mid - lo, hi - mid]), nan=0.0).clip(min=0)


def bars_figure(rows: list[SuiteRow | WorldRow], title: str, ylabel: str, xlabels: list[str] | None = None) -> str:
    """Grouped bars: base and tuned per transform (left), the drop per transform (right)."""
    has_base = any(r.base is not None for r in rows)
    fig, axes = new_figure(9.0 if has_base else 5.0, 3.4, ncols=2 if has_base else 1)
    x = np.arange(len(rows))
    names = xlabels or [r.transform for r in rows]
    ax = axes[0]
    w = 0.38 if has_base else 0.6
    if has_base:
        ax.bar(x - w / 2, [r.base for r in rows], w, yerr=_err(rows, "base"), color=COLORS["base"], label="base", capsize=3)
    ax.bar(x + (w / 2 if has_base else 0), [r.tuned for r in rows], w, yerr=_err(rows, "tuned"), color=COLORS["checkpoint"],
           label="fine-tuned", capsize=3)
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    if has_base:
        ax = axes[1]
        drops = [r.drop if r.drop is not None else 0 for r in rows]
        ax.bar(x, drops, 0.6, yerr=_err(rows, "drop"), color=COLORS["actual"], capsize=3)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, names, fontsize=8)
        ax.set_ylabel("drop (base − fine-tuned)")
        ax.set_title("drop per transform", fontsize=10)
    return to_data_uri(fig)


def world_steps_figure(world: FactWorldBlock) -> str | None:
    """Fact world across the chosen checkpoints: ICL accuracy and private-request refusal, L1 vs L2."""
    rows = world.rows
    if not rows:
        return None
    fig, axes = new_figure(9.0, 3.4, ncols=2)
    lang = world.languages
    for ax, task, key, label in ((axes[0], "icl", "tuned", "ICL accuracy"), (axes[1], "private", "refusal_tuned", "refusal rate")):
        for t, style in zip(world.transforms, ("-o", "--s", ":^"), strict=False):
            rs = sorted([r for r in rows if r.task == task and r.transform == t], key=lambda r: r.step)
            if not rs:
                continue
            base_key = "base" if key == "tuned" else "refusal_base"
            xs = [0] + [r.step for r in rs]
            ys = [getattr(rs[0], base_key)] + [getattr(r, key) for r in rs]
            ax.plot(xs, ys, style, label=lang.get(t, t), ms=4)
        ax.set_xscale("symlog", linthresh=max(1, min(world.steps)))
        ax.set_xlabel("fine-tuning step (0 = base)")
        ax.set_ylabel(label)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7)
    return to_data_uri(fig)


def examples(store: RunStore, suite: str, n: int = 6) -> list[dict]:
    f = store.results_dir / "items.parquet"
    if not f.exists():
        return []
    items = read_table(f)
    sub = items[(items["suite"] == suite) & (items["model"] == "tuned")]
    out = []
    for _, r in sub.groupby("transform", sort=False).head(2).head(n).iterrows():
        out.append({"transform": r["transform"], "task": r["task"], "answer": r["answer"], "output": r["output"], "score": r["score"]})
    return out


def claims_context(world: FactWorldBlock) -> dict:
    """The fact world's claims, one row each with its check at every checkpoint, and how many hold
    together at best: the report states that count, it does not make it a finding."""
    rows = [{"claim": c, "checks": {x.step: x for x in world.checks if x.claim == c.claim}} for c in world.claims]
    held = {st: sum(st in c.holds_at for c in world.claims) for st in world.steps}
    most = max(held.values(), default=0)
    return {"rows": rows, "steps": world.steps, "of": len(world.claims), "most": most,
            "most_at": [st for st, n in held.items() if n == most and most > 0]}


def conjugate_context(store: RunStore, s: ConjugateSummary) -> dict:
    suites = []
    for name, block in s.suites.items():
        top = [r for r in block.rows if r.task == ("all" if any(r.task == "all" for r in block.rows) else r.task)]
        ylabel = "answer rate" if block.metric == "answer_rate" else "accuracy"
        suites.append({"name": name, "title": SUITE_TITLES.get(name, name), "metric": ylabel, "rows": block.rows,
                       "figure": bars_figure(top, SUITE_TITLES.get(name, name), ylabel), "rules": block.rules,
                       "examples": examples(store, name)})
    world = s.fact_world
    world_ctx = None
    if world:
        figs = []
        final = max(world.steps)
        for step in sorted({min(world.steps), final}):  # the earliest and the last chosen checkpoint
            for task, ylabel in (("icl", "ICL accuracy"), ("private", "answer rate (1 − refusal)")):
                rs = [r for r in world.rows if r.task == task and r.step == step]
                if rs:
                    names = [world.languages.get(r.transform, r.transform) for r in rs]
                    figs.append(bars_figure(rs, f"{task} at step {step}", ylabel, names))
        world_ctx = {"block": world, "figures": figs, "steps_figure": world_steps_figure(world), "final": final,
                     "claims": claims_context(world)}
    return {"summary": s, "suites": suites, "world": world_ctx}


SECTION = ReportSection("Conjugate prompting: what a transformed prompt brings back", "conjugate.html.j2", conjugate_context)
