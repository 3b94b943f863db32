"""The regression study's report section, rendered from summary.json alone: loss per k against the
baselines, the fine-tuning trajectory, damage against closeness to the discrete set, conjugate
prompting's recovery."""

from __future__ import annotations

from forgetscope.report.figures import COLORS, new_figure, to_data_uri
from forgetscope.report.page import ReportSection
from forgetscope.schema import RegressionSummary, SeedStat
from forgetscope.store import RunStore

STYLE = {  # predictor -> (color, line style, label)
    "base": (COLORS["base"], "-o", "base (pre-trained)"),
    "finetuned": (COLORS["checkpoint"], "-o", "fine-tuned"),
    "ridge": ("#2ca02c", "--", "ridge (Bayes, continuous)"),
    "discrete_bayes": ("#d62728", "--", "discrete Bayes"),
    "mixture_bayes": ("#9467bd", ":", "mixture Bayes (pre-training)"),
    "least_squares": ("#8c564b", "-.", "least squares"),
    "zero": ("#bbbbbb", ":", "zero"),
}
VERDICT_WORD = {"holds": "Holds", "fails": "Does not hold", "uncertain": "Uncertain"}
FAMILY_TITLE = {"discrete": "discrete family (fine-tuning distribution)", "continuous": "continuous family"}


def _line(ax, rows: list, key: str, color: str, style: str, label: str, x_key: str = "k", band: bool = True) -> None:
    x = [getattr(r, x_key) for r in rows]
    ax.plot(x, [getattr(r, key) for r in rows], style, color=color, label=label, ms=3.5, lw=1.4)
    lo, hi = [r.ci[0] for r in rows], [r.ci[1] for r in rows]
    if band and all(v is not None for v in lo + hi):
        ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)


def loss_figure(s: RegressionSummary) -> str:
    fams = [f for f in ("discrete", "continuous") if f in s.loss_by_k]
    fig, axes = new_figure(11.0, 3.9, ncols=len(fams))
    for ax, fam in zip(axes, fams, strict=True):
        for pred, (color, style, label) in STYLE.items():
            if pred in s.loss_by_k[fam]:
                _line(ax, s.loss_by_k[fam][pred], "mse", color, style, label, band=pred in ("base", "finetuned"))
        ax.set_xlabel("in-context examples k")
        ax.set_ylabel("MSE")
        ax.set_title(FAMILY_TITLE[fam], fontsize=10)
        # least squares diverges near k = d (interpolation threshold): keep the scale of the others
        top = max(r.mse for p in ("base", "finetuned", "zero") for r in s.loss_by_k[fam].get(p, []))
        ax.set_ylim(0, 1.15 * top)
    axes[0].legend(fontsize=7)
    return to_data_uri(fig)


def trajectory_figure(s: RegressionSummary) -> str:
    fig, (ax,) = new_figure(7.0, 3.3)
    for fam, color in (("discrete", "#d62728"), ("continuous", "#2ca02c")):
        if fam in s.trajectory:
            _line(ax, s.trajectory[fam], "mse", color, "-o", fam, x_key="step")
    ax.set_xscale("symlog", linthresh=max(1, min([x for x in s.finetune_steps if x > 0], default=1)))
    ax.set_xlabel("fine-tuning step (0 = base)")
    ax.set_ylabel("MSE, mean over k")
    ax.set_title("loss on each family during fine-tuning on the discrete family", fontsize=10)
    ax.legend(fontsize=8)
    return to_data_uri(fig)


def closeness_figure(s: RegressionSummary) -> str:
    measures = [("posterior_discrete", "P(discrete family | prefix), quantile bins"),
                ("w_distance", "distance of w to the nearest discrete vector, quantile bins")]
    measures = [m for m in measures if m[0] in s.closeness]
    fig, axes = new_figure(11.0, 3.5, ncols=len(measures))
    for ax, (m, title) in zip(axes, measures, strict=True):
        bins = s.closeness[m].bins
        x = list(range(len(bins)))
        y = [b.damage for b in bins]
        err = [[(b.damage - b.ci[0]) if b.ci[0] is not None else 0 for b in bins],
               [(b.ci[1] - b.damage) if b.ci[1] is not None else 0 for b in bins]]
        ax.bar(x, y, color=COLORS["actual"], alpha=0.8)
        ax.errorbar(x, y, yerr=err, fmt="none", ecolor="black", lw=1, capsize=3)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(x, [f"{b.closeness:.2g}" for b in bins])
        for xi, b in zip(x, bins, strict=True):
            if b.relative_damage is not None:
                ax.annotate(f"{100 * b.relative_damage:.0f}%", (xi, 0), xytext=(16, -11), textcoords="offset points",
                            ha="center", fontsize=7, color="#555")
        ax.set_xlabel("bin mean (farthest → closest to the discrete set)")
        ax.set_ylabel("damage: MSE fine-tuned − base")
        ax.set_title(title, fontsize=9)
    return to_data_uri(fig)


def conjugate_figure(s: RegressionSummary) -> str:
    fig, axes = new_figure(11.0, 3.6, ncols=2)
    ax = axes[0]
    cont = s.conjugate_loss_by_k.get("continuous", {})
    palette = ["#ff7f0e", "#17becf", "#e377c2", "#bcbd22"]
    for key, color, style, label in (("base@1", COLORS["base"], "-o", "base"), ("finetuned@1", COLORS["checkpoint"], "-o", "fine-tuned")):
        if key in cont:
            _line(ax, cont[key], "mse", color, style, label)
    for i, g in enumerate(s.gammas):
        key = f"finetuned@{g:g}"
        if key in cont:
            _line(ax, cont[key], "mse", palette[i % len(palette)], "--s", f"fine-tuned, conjugate γ={g:g}")
    ax.set_xlabel("in-context examples k")
    ax.set_ylabel("MSE (continuous family)")
    ax.set_title("conjugate prompts (X, γy), output / γ", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[1]
    first = s.conjugate.get(f"{s.gammas[0]:g}")
    if first:
        ax.plot([r.k for r in first.per_k], [r.damage for r in first.per_k], "-", color=COLORS["actual"], lw=2.5,
                alpha=0.6, label="damage: fine-tuned − base")
    for i, g in enumerate(s.gammas):
        c = s.conjugate.get(f"{g:g}")
        if c:
            _line(ax, c.per_k, "recovered", palette[i % len(palette)], "-o", f"recovered by γ={g:g}")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("in-context examples k")
    ax.set_ylabel("MSE (continuous family)")
    ax.set_title("recovered = fine-tuned − conjugate (bands: CI over seeds)", fontsize=9)
    ax.legend(fontsize=7)
    return to_data_uri(fig)


def _fmt(iv: SeedStat, d: int = 3) -> str:
    lo, hi = iv.ci
    ci = f" [{lo:.{d}f}, {hi:.{d}f}]" if lo is not None else ""
    seeds = iv.by_seed
    per_seed = f" (by seed: {', '.join('–' if v is None else f'{v:+.{d}f}' for v in seeds)})" if len(seeds) > 1 else ""
    return f"{iv.mean:+.{d}f}{ci}{per_seed}"


def verdict(s: RegressionSummary) -> list[str]:
    """One sentence per finding, from its verdict (its interval), with the numbers behind it."""
    eff = s.finetune_effect
    lvl = round(100 * s.ci_level)
    out = [f"Fine-tuning changes the discrete family's loss (mean over k) by {_fmt(eff['discrete'].change)} and the continuous "
           f"family's by {_fmt(eff['continuous'].change)} ({lvl}% CI over {len(s.seeds)} seeds)."]
    for f in s.findings:
        out.append(f"{VERDICT_WORD[f.verdict]}: {f.claim} ({f.evidence}.)")
    return out


def regression_context(store: RunStore, s: RegressionSummary) -> dict:
    ok = all(f.verdict == "holds" for f in s.findings)
    return {
        "summary": s,
        "verdict": verdict(s),
        "verdict_ok": ok,
        "fig_loss": loss_figure(s),
        "fig_trajectory": trajectory_figure(s),
        "fig_closeness": closeness_figure(s),
        "fig_conjugate": conjugate_figure(s),
    }


SECTION = ReportSection("Regression: suppression under fine-tuning, recovery by conjugate prompts", "regression.html.j2", regression_context)
