"""The recipes study's report section, from summary.json alone: the Pareto plot (target gain against
actual and against pseudo forgetting, each recipe's frontier over its checkpoints; and against the whole
forgetting, with the weight-interpolation sweep's curves), forward KL against forgetting, and the tables
of every recipe and checkpoint and of the sweep."""

from __future__ import annotations

from forgetscope.report.figures import new_figure, to_data_uri
from forgetscope.report.page import ReportSection
from forgetscope.store import RunStore
from forgetscope.studies.recipes.summary import RecipesSummary

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]


def _by_recipe(s: RecipesSummary):
    for i, r in enumerate(s.recipes):
        yield r.name, PALETTE[i % len(PALETTE)], [p for p in s.points if p.recipe == r.name]


def pareto_figure(s: RecipesSummary) -> str:
    parts = ("actual", "pseudo", "forgetting") if s.interpolation else ("actual", "pseudo")
    fig, axes = new_figure(5.5 * len(parts), 4.0, ncols=len(parts))
    for ax, part in zip(axes, parts, strict=True):
        for name, color, pts in _by_recipe(s):
            shown = [p for p in pts if p.target_gain is not None and getattr(p, part) is not None]
            ax.scatter([100 * getattr(p, part) for p in shown], [100 * p.target_gain for p in shown], color=color, s=18, alpha=0.6)
            if part == "forgetting":
                _interpolation_curve(ax, s, name, color, shown)
                continue
            front = sorted((p for p in shown if getattr(p, f"frontier_{part}")), key=lambda p: getattr(p, part))
            ax.plot([100 * getattr(p, part) for p in front], [100 * p.target_gain for p in front], "-o", color=color, ms=4, label=name)
        ax.set_xlabel(f"{'' if part == 'forgetting' else part + ' '}forgetting on {s.probe} (points)")
        ax.set_ylabel(f"target gain on {s.target_probe} (points)")
        ax.set_title("dashed: interpolated toward the base (alpha marked)" if part == "forgetting"
                     else f"target gain against {part} forgetting; lines: each recipe's frontier", fontsize=9)
    axes[0].legend(fontsize=7)
    return to_data_uri(fig)


def _interpolation_curve(ax, s: RecipesSummary, name: str, color: str, shown) -> None:
    """The base (0, 0), the sweep's alphas, the swept checkpoint: one dashed line per swept recipe."""
    sweep = [q for q in s.interpolation if q.recipe == name and q.target_gain is not None and q.forgetting is not None]
    if not sweep:
        return
    end = [p for p in shown if p.step == sweep[0].step]
    xs = [0.0, *[100 * q.forgetting for q in sweep], *[100 * p.forgetting for p in end]]
    ys = [0.0, *[100 * q.target_gain for q in sweep], *[100 * p.target_gain for p in end]]
    ax.plot(xs, ys, "--", color=color, lw=1, label=f"{name}: interpolated")
    for q in sweep:
        ax.annotate(f"{q.alpha:g}", (100 * q.forgetting, 100 * q.target_gain), fontsize=6, color=color,
                    textcoords="offset points", xytext=(3, 3))


def kl_figure(s: RecipesSummary) -> str:
    fig, (ax,) = new_figure(6.0, 3.6)
    for name, color, pts in _by_recipe(s):
        shown = [p for p in pts if p.forward_kl is not None and p.forgetting is not None]
        ax.scatter([p.forward_kl for p in shown], [100 * p.forgetting for p in shown], color=color, s=20, label=name)
    ax.set_xlabel("forward KL to the base on the fine-tuning data (nats/token)")
    ax.set_ylabel(f"forgetting on {s.probe} (points)")
    ax.legend(fontsize=7)
    return to_data_uri(fig)


def recipes_context(store: RunStore, s: RecipesSummary) -> dict:
    return {"summary": s, "fig_pareto": pareto_figure(s), "fig_kl": kl_figure(s)}


SECTION = ReportSection("Recipes: which fine-tuning forgets less, pseudo and actual apart",
                        "forgetscope.studies.recipes:recipes.html.j2", recipes_context)
