"""The trajectory study's report section: stages across steps, decomposition, pattern shift, items."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forgetscope.analysis.findings import steps_text
from forgetscope.analysis.stage_rule import control_sentences
from forgetscope.report.figures import COLORS, new_figure, step_axis, to_data_uri
from forgetscope.report.page import ReportSection, read_table, seeds_text
from forgetscope.schema import Checkpoint, ProbeDecomposition, TrajectorySummary
from forgetscope.store import RunStore

STATE_ORDER = ["kept", "pseudo", "actual", "unknown_at_base"]
VERDICT_WORD = {"holds": "Holds", "fails": "Does not hold", "uncertain": "Uncertain"}


def _shade_stages(ax, checkpoints: list[Checkpoint]) -> None:
    steps = [c.step for c in checkpoints]
    for i, c in enumerate(checkpoints):
        if c.label_ci not in ("pseudo", "actual"):
            continue
        lo = np.sqrt(steps[i - 1] * c.step) if i > 0 else c.step * 0.8
        hi = np.sqrt(steps[i + 1] * c.step) if i + 1 < len(steps) else c.step * 1.25
        ax.axvspan(lo, hi, color=COLORS[c.label_ci], alpha=0.35, lw=0)


def _band(ax, x, series: list[Checkpoint], key: str, color: str, label: str, style: str = "-o") -> None:
    y = [getattr(s, key) for s in series]
    ax.plot(x, y, style, color=color, label=label, ms=4)
    lo = [getattr(s.ci, key)[0] for s in series]
    hi = [getattr(s.ci, key)[1] for s in series]
    if all(v is not None for v in lo + hi):
        ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)


# The lines of the restorers after the first, in order, and the colour words the caption uses for them
# (templates/trajectory.html.j2); a fifth restorer takes the first colour again.
OTHER_RESTORER_COLORS = ((COLORS["interp"], "purple"), ("#8c564b", "brown"), ("#e377c2", "pink"), ("#17becf", "cyan"))


def other_restorer_color(i: int) -> tuple[str, str]:
    """(hex, colour word) of the i-th restorer after the first."""
    return OTHER_RESTORER_COLORS[i % len(OTHER_RESTORER_COLORS)]


def trajectory_figure(ps: ProbeDecomposition, title: str, summary: TrajectorySummary) -> str:
    cks = ps.checkpoints
    fig, (ax,) = new_figure(7.4, 3.8)
    _shade_stages(ax, cks)
    x = [c.step for c in cks]
    ax.axhline(ps.base, color=COLORS["base"], ls="--", lw=1.2, label=f"base {ps.base:.3f}")
    ax.axhline(ps.restored_base, color=COLORS["restored_base"], ls=":", lw=1.5, label=f"restored base {ps.restored_base:.3f}")
    lead, *others = summary.restorers
    _band(ax, x, cks, "score", COLORS["checkpoint"], "checkpoint")
    _band(ax, x, cks, "restored", COLORS["restored"], f"restored ({lead.title})")
    for i, r in enumerate(others):
        color, _ = other_restorer_color(i)
        ax.plot(x, [c.other_restorers[r.condition].score for c in summary.checkpoints], "--s", color=color, ms=3,
                label=r.title)
    step_axis(ax, x)
    ax.set_ylabel(f"{ps.probe} score")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=10)
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    handles += [Patch(color=COLORS["pseudo"], alpha=0.5), Patch(color=COLORS["actual"], alpha=0.5)]
    labels += ["pseudo forgetting", "actual forgetting"]
    ax.legend(handles, labels, fontsize=7, loc="lower left", ncol=2)
    return to_data_uri(fig)


def decomposition_figure(ps: ProbeDecomposition) -> str:
    """forgetting = recovered + unrecovered per checkpoint, as bars that cannot contradict the label:
    positive parts stack up from 0 and negative ones down (restoration that lowered a score draws a
    recovered bar below 0); the unrecovered part is drawn in the actual colour only where the
    checkpoint is actual by its interval, grey elsewhere; each bar carries its label_ci."""
    cks = ps.checkpoints
    fig, (ax,) = new_figure(7.4, 3.2)
    x = np.arange(len(cks))
    rec = np.array([c.recovered or 0.0 for c in cks])
    unr = np.array([c.unrecovered or 0.0 for c in cks])
    actual = np.array([c.label_ci == "actual" for c in cks])
    up, down = np.zeros(len(cks)), np.zeros(len(cks))
    for part, color, name in ((rec, COLORS["restored"], "recovered by restoration"), (unr, None, None)):
        bottom = np.where(part >= 0, up, down)
        colors = color or [COLORS["actual"] if a else COLORS["unlabelled"] for a in actual]
        ax.bar(x, part, bottom=bottom, color=colors, label=name)
        up, down = np.where(part >= 0, up + part, up), np.where(part < 0, down + part, down)
    from matplotlib.patches import Patch

    f = np.array([c.forgetting or 0.0 for c in cks])
    err = [[c.forgetting - (c.ci.forgetting[0] if c.ci.forgetting[0] is not None else c.forgetting) for c in cks],
           [(c.ci.forgetting[1] if c.ci.forgetting[1] is not None else c.forgetting) - c.forgetting for c in cks]]
    ax.errorbar(x, f, yerr=err, fmt="k_", ms=14, lw=1, label="forgetting (CI)")
    ax.axhline(0, color="black", lw=0.8)
    top = np.maximum(up, f + np.array(err[1]))
    for i, c in enumerate(cks):
        ax.text(x[i], top[i], c.label_ci, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [str(c.step) for c in cks])
    ax.set_xlabel("fine-tuning step (text: the label its intervals support)")
    ax.set_ylabel("score points (fraction)")
    ax.set_title(f"forgetting = recovered + unrecovered ({ps.probe})", fontsize=10)
    ax.margins(y=0.15)
    lo, hi = ax.get_ylim()
    if hi - lo < 0.05:  # nothing lost anywhere: a readable ±5-point axis, not one scaled to rounding noise
        ax.set_ylim(min(lo, -0.025), max(hi, 0.025))
    handles, labels = ax.get_legend_handles_labels()
    handles += [Patch(color=COLORS["actual"]), Patch(color=COLORS["unlabelled"])]
    labels += ["unrecovered, actual by its interval", "unrecovered, not labelled actual"]
    ax.legend(handles, labels, fontsize=7)
    return to_data_uri(fig)


def pattern_figure(summary: TrajectorySummary) -> str | None:
    rows = pd.DataFrame([r.model_dump() for r in summary.pattern_shift])
    if rows.empty:
        return None
    fig, axes = new_figure(11, 3.2, ncols=3)
    steps = sorted(rows["step"].unique())
    for i, (fmt, g) in enumerate(rows.groupby("format")):
        g = g.sort_values("step")
        color = f"C{i}"
        axes[0].plot(g["step"], g["kl"], "-o", ms=4, color=color, label=f"{fmt} prompts")
        lo, hi = [c[0] for c in g["kl_ci"]], [c[1] for c in g["kl_ci"]]
        if all(v is not None for v in lo + hi):
            axes[0].fill_between(g["step"], lo, hi, alpha=0.2, color=color)
        axes[1].plot(g["step"], g["shifted"], "-o", ms=4, color=color, label=f"shifted, {fmt}")
        axes[1].plot(g["step"], g["marginal"], ":", color=color, label=f"marginal, {fmt}")
    step_axis(axes[0], steps)
    axes[0].set_ylabel("KL(base || checkpoint), nats/token")
    axes[0].set_title("distribution shift on own continuations", fontsize=9)
    axes[0].legend(fontsize=7)
    step_axis(axes[1], steps)
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].set_ylabel("share of continuation tokens")
    axes[1].set_title("rank under the base: shifted (>3), marginal (2-3)", fontsize=9)
    axes[1].legend(fontsize=7)
    ax = axes[2]
    bpb = pd.DataFrame([r.model_dump() for r in summary.bits_per_byte])
    if not bpb.empty:
        for (cond, lang), g in bpb.groupby(["condition", "language"]):
            if cond not in ("checkpoint", "restored"):
                continue
            g = g.sort_values("step")
            ax.plot(g["step"], g["bits_per_byte"], "-o" if cond == "checkpoint" else "--^", ms=3,
                    color=COLORS[cond], alpha=1.0 if lang in ("l1", "all") else 0.5, label=f"{cond} ({lang})")
        step_axis(ax, bpb["step"])
        ax.set_ylabel("bits per byte, held-out text")
        ax.legend(fontsize=7)
        ax.set_title("pre-training-format fluency", fontsize=9)
    return to_data_uri(fig)


def probes_figure(summary: TrajectorySummary) -> str:
    probes = summary.probes
    n = len(probes)
    fig, axes = new_figure(min(3.0 * n, 15), 2.8, ncols=n)
    for ax, (name, ps) in zip(axes, sorted(probes.items()), strict=True):
        cks = ps.checkpoints
        x = [c.step for c in cks]
        _shade_stages(ax, cks)
        ax.axhline(ps.base, color=COLORS["base"], ls="--", lw=1)
        ax.axhline(ps.restored_base, color=COLORS["restored_base"], ls=":", lw=1.2)
        ax.plot(x, [c.score for c in cks], "-o", ms=3, color=COLORS["checkpoint"])
        ax.plot(x, [c.restored for c in cks], "-^", ms=3, color=COLORS["restored"])
        step_axis(ax, x)
        ax.xaxis.label.set_fontsize(8)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    return to_data_uri(fig)


def rates_figure(summary: TrajectorySummary) -> str | None:
    rates = summary.rates
    if not rates:
        return None
    lead = summary.restorers[0].condition
    fig, (ax,) = new_figure(6, 3.0)
    for i, (probe, by_cond) in enumerate(sorted(rates.items())):
        rows = by_cond.get("checkpoint", [])
        ax.plot([r.step for r in rows], [r.rate for r in rows], "-o", ms=3, color=f"C{i}", label=f"{probe} (checkpoint)")
        rows = by_cond.get(lead, [])
        ax.plot([r.step for r in rows], [r.rate for r in rows], "--", color=f"C{i}", alpha=0.6, label=f"{probe} ({lead})")
    step_axis(ax, [r.step for v in rates.values() for r in v.get("checkpoint", [])])
    ax.set_ylabel("refusal rate")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    return to_data_uri(fig)


def items_figure(per_item: pd.DataFrame, probe: str, restorer: str) -> str | None:
    sub = per_item[(per_item["probe"] == probe) & (per_item["restorer"] == restorer)]
    if sub.empty:
        return None
    fig, axes = new_figure(11, 3.4, ncols=2)
    shares = sub.groupby("step")["state"].value_counts(normalize=True).unstack(fill_value=0).reindex(columns=STATE_ORDER, fill_value=0)
    x = np.arange(len(shares))
    bottom = np.zeros(len(shares))
    for st in STATE_ORDER:
        axes[0].bar(x, shares[st].to_numpy(), bottom=bottom, color=COLORS[st if st != "pseudo" else "pseudo"], label=st.replace("_", " "))
        bottom += shares[st].to_numpy()
    axes[0].set_xticks(x, [str(s) for s in shares.index], fontsize=7)
    axes[0].set_xlabel("fine-tuning step")
    axes[0].set_ylabel("share of items (all seeds)")
    axes[0].legend(fontsize=7, loc="lower left")
    axes[0].set_title(f"item states, {probe}", fontsize=9)
    seed0 = sub[sub["seed"] == sub["seed"].min()]
    grid = seed0.pivot_table(index="item_id", columns="step", values="state", aggfunc="first")
    code = {s: i for i, s in enumerate(STATE_ORDER)}
    order = grid.apply(lambda col: col.map(code)).fillna(3)
    order = order.sort_values(list(order.columns)[::-1])
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap([COLORS[s] for s in STATE_ORDER])
    axes[1].imshow(order.to_numpy(), aspect="auto", cmap=cmap, vmin=0, vmax=3, interpolation="nearest")
    axes[1].set_xticks(range(len(order.columns)), [str(s) for s in order.columns], fontsize=7)
    axes[1].set_yticks([])
    axes[1].set_xlabel("fine-tuning step")
    axes[1].set_ylabel(f"{len(order)} items (seed {int(seed0['seed'].iat[0])})")
    axes[1].set_title("every item across checkpoints", fontsize=9)
    axes[1].grid(False)
    return to_data_uri(fig)


def example_rows(items: pd.DataFrame, probe: str, step: int, restorer: str, n: int = 8) -> list[dict]:
    """Items of a probe lost at `step` (first seed): prompt, expected, checkpoint's and restored output."""
    seed = items["seed"].min()
    sub = items[(items["probe"] == probe) & (items["seed"] == seed)]
    base = sub[(sub["condition"] == "checkpoint") & (sub["step"] == 0)].set_index("item_id")
    ck = sub[(sub["condition"] == "checkpoint") & (sub["step"] == step)].set_index("item_id")
    rs = sub[(sub["condition"] == restorer) & (sub["step"] == step)].set_index("item_id")
    lost = [i for i in ck.index if i in base.index and base.loc[i, "score"] > ck.loc[i, "score"]][:n]
    return [{"item": i, "base": base.loc[i, "output"], "checkpoint": ck.loc[i, "output"],
             "restored": rs.loc[i, "output"] if i in rs.index else "", "restored_ok": bool(rs.loc[i, "score"] >= 0.5) if i in rs.index else False}
            for i in lost]


def lost_items(items: pd.DataFrame, summary: TrajectorySummary, n: int = 8) -> list[dict]:
    """For every probe (the primary first): the items lost at its checkpoint that lost the most, as
    {probe, step, rows}; probes that lost nothing there (or whose items are lm-eval documents, not in
    items.parquet) are left out."""
    lead = summary.restorers[0].condition
    out = []
    for name in sorted(summary.probes, key=lambda p: (p != summary.probe, p)):
        worst = max(summary.probes[name].checkpoints, key=lambda c: c.forgetting or 0, default=None)
        rows = example_rows(items, name, worst.step, lead, n) if worst else []
        if rows:
            out.append({"probe": name, "step": worst.step, "rows": rows})
    return out


def verdict(summary: TrajectorySummary) -> list[str]:
    """Plain sentences stating what the run shows, each from a finding's verdict (its interval), never
    from point estimates alone."""
    out = [f"Probe {summary.probe}: base {100 * summary.base:.1f}%, restored base {100 * summary.restored_base:.1f}%; "
           f"δ = {100 * summary.delta:.0f} points; {seeds_text(len(summary.seeds))}; labels by {round(100 * summary.ci_level)}% intervals."]
    out += control_sentences(summary.damaged_controls, summary.delta)
    for f in summary.findings:
        out.append(f"{VERDICT_WORD[f.verdict]}: {f.claim} {f.evidence[:1].upper()}{f.evidence[1:]}.")
    unsaturated = [c.step for c in summary.checkpoints if c.saturated is False]
    if unsaturated:
        out.append(f"Restoration had not run its course at {steps_text(unsaturated)}: actual at the configured budget but not under a "
                   f"larger one, so {'it is' if len(unsaturated) == 1 else 'they are'} labelled uncertain.")
    return out


def curve_figure(summary: TrajectorySummary) -> str | None:
    """Restored score against the restoration budget, one line per checkpoint."""
    pts = summary.restoration_curve
    budgets = sorted({p.budget for p in pts})
    if len(budgets) <= 2:  # only "not restored" and the one budget: no curve to draw
        return None
    fig, (ax,) = new_figure(7.4, 3.4)
    steps = sorted({p.step for p in pts})
    cmap = __import__("matplotlib").colormaps["viridis"]
    for i, step in enumerate(steps):
        line = sorted((p for p in pts if p.step == step), key=lambda p: p.budget)
        color = cmap(i / max(1, len(steps) - 1))
        ax.plot([p.budget for p in line], [p.score for p in line], "-o", ms=3, color=color,
                label="base" if step == 0 else f"step {step}")
    ax.axvline(1.0, color="#999", ls=":", lw=1)
    ax.set_xlabel("restoration budget (multiples of restore.train.steps; 0 = as fine-tuned)")
    ax.set_ylabel(f"{summary.probe} score")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("restoration curves: has restoration run its course?", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    return to_data_uri(fig)


def _source(ref) -> str | None:
    """A data source of the resolved config in words: None for the fact world's own data."""
    if ref is None or ref == "world":
        return None
    if isinstance(ref, dict):
        return " ".join(str(ref[k]) for k in ("path", "name", "split") if ref.get(k))
    return str(ref)


def data_sources(config_yaml: str) -> dict:
    """Where the run's held-out text and pattern prompts came from (the report's captions describe the
    user's data, not the fact world's, when they are files)."""
    import yaml

    ev = (yaml.safe_load(config_yaml) or {}).get("eval") or {}
    return {"heldout_text": _source(ev.get("heldout_text", "world")), "pattern_prompts": _source(ev.get("pattern_prompts", "world"))}


def trajectory_context(store: RunStore, summary: TrajectorySummary) -> dict:
    items = read_table(store.results_dir / "items.parquet")
    per_item_path = store.results_dir / "per_item.parquet"  # not written when it has no rows
    per_item = read_table(per_item_path) if per_item_path.exists() else pd.DataFrame(columns=["probe", "restorer"])
    primary = summary.probes[summary.probe]
    lead = summary.restorers[0].condition
    return {
        "summary": summary,
        "verdict": verdict(summary),
        "sources": data_sources(store.config_path.read_text()),
        "fig_trajectory": trajectory_figure(primary, f"{summary.probe}: checkpoints, restored, base", summary),
        "other_restorer_colors": [other_restorer_color(i)[1] for i in range(len(summary.restorers) - 1)],
        "fig_decomposition": decomposition_figure(primary),
        "fig_curve": curve_figure(summary),
        "fig_pattern": pattern_figure(summary),
        "fig_probes": probes_figure(summary),
        "fig_rates": rates_figure(summary),
        "fig_items": items_figure(per_item, summary.probe, lead),
        "lost": lost_items(items, summary),
    }


SECTION = ReportSection("Trajectory: pattern shift or knowledge loss?", "trajectory.html.j2", trajectory_context)
