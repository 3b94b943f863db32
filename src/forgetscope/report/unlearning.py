"""The unlearning study's report section, rendered from summary.json alone: the verdict table on top,
then the relearning curves (each audited model against the control oracle, forget and retain)."""

from __future__ import annotations

from forgetscope.report.figures import new_figure, to_data_uri
from forgetscope.report.page import ReportSection
from forgetscope.store import RunStore
from forgetscope.studies.unlearning.summary import UnlearningSummary

CONTROL = "oracle-control"
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


def curves_figure(s: UnlearningSummary) -> str:
    attacks = list(dict.fromkeys(c.attack for c in s.curves))
    fig, axes = new_figure(3.6 * len(attacks), 3.4, ncols=len(attacks))
    models = list(dict.fromkeys(c.model for c in s.curves))
    for ax, attack in zip(axes, attacks, strict=True):
        for i, model in enumerate(models):
            pts = [c for c in s.curves if c.attack == attack and c.model == model]
            color = "#444444" if model == CONTROL else PALETTE[i % len(PALETTE)]
            style = "--" if model == CONTROL else "-"
            ax.plot([p.step for p in pts], [100 * (p.forget.mean or 0) for p in pts], style + "o", color=color, ms=3, label=model)
            ax.plot([p.step for p in pts], [100 * (p.retain.mean or 0) for p in pts], ":", color=color, lw=1)
        if s.base.forget.mean is not None:
            ax.axhline(100 * s.base.forget.mean, color="#999999", lw=0.8)
        ax.set_title(f"relearning on {attack}", fontsize=10)
        ax.set_xlabel("relearning steps")
        ax.set_ylabel("forget score (%) · dotted: retain")
        ax.set_ylim(0, 102)
    axes[0].legend(fontsize=7)
    return to_data_uri(fig)


def unlearning_context(store: RunStore, s: UnlearningSummary) -> dict:
    return {"summary": s, "fig_curves": curves_figure(s)}


SECTION = ReportSection("Unlearning: removed or hidden?", "unlearning.html.j2", unlearning_context)
