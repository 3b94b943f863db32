"""`forgetscope compare-runs RUN...`: the summaries of finished runs side by side, one table and one plot.

Runs are compared only through their summary.json (read with their study's summary model, so a
summary of another layout is a one-line error, never a misread column). A trajectory run gives one
row per checkpoint of its primary probe; a recipes run one row per recipe and checkpoint; every run
also gives its findings. The CSV keeps the summaries' fractions unchanged; the printed and markdown
tables show them in points with their intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from forgetscope.errors import UserError

PARTS = ("forgetting", "pseudo", "actual")  # B - F_t, R_t - F_t, B - R_t
COLUMNS = ["run", "study", "recipe", "probe", "step", "target_gain", "target_gain_lo", "target_gain_hi",
           *[f"{p}{s}" for p in PARTS for s in ("", "_lo", "_hi")], "label"]
FINDING_COLUMNS = ["run", "study", "id", "claim", "unit", "value", "lo", "hi", "verdict"]


def _row(run: str, study: str, recipe: str, probe: str, step: int, gain, gain_ci, values: dict, cis: dict, label) -> dict:
    row = {"run": run, "study": study, "recipe": recipe, "probe": probe, "step": step,
           "target_gain": gain, "target_gain_lo": gain_ci[0], "target_gain_hi": gain_ci[1], "label": label}
    for p in PARTS:
        row[p], (row[f"{p}_lo"], row[f"{p}_hi"]) = values[p], cis[p]
    return row


def trajectory_rows(run: str, s) -> list[dict]:
    """The primary probe under the first restorer: one row per checkpoint (no target probe: gain empty)."""
    return [_row(run, s.study, s.name, s.probe, c.step, None, (None, None),
                 {"forgetting": c.forgetting, "pseudo": c.recovered, "actual": c.unrecovered},
                 {"forgetting": c.ci.forgetting, "pseudo": c.ci.recovered, "actual": c.ci.unrecovered}, c.label_ci)
            for c in s.checkpoints]


def recipes_rows(run: str, s) -> list[dict]:
    """Every recipe's checkpoints, with the target probe's gain."""
    return [_row(run, s.study, p.recipe, s.probe, p.step, p.target_gain, p.target_gain_ci,
                 {"forgetting": p.forgetting, "pseudo": p.pseudo, "actual": p.actual},
                 {"forgetting": p.forgetting_ci, "pseudo": p.pseudo_ci, "actual": p.actual_ci}, p.label)
            for p in s.points]


ROWS: dict[str, Callable[[str, object], list[dict]]] = {"trajectory": trajectory_rows, "recipes": recipes_rows}


def read_run(run_dir: Path):
    """(study name, typed summary) of a finished run; a folder that is not one is a one-line error."""
    from forgetscope.report.page import read_summary
    from forgetscope.store import RunStore
    from forgetscope.studies.registry import study_of_run

    if not Path(run_dir).is_dir():
        raise UserError(f"{run_dir}: no such run folder")
    study = study_of_run(Path(run_dir))
    return study.name, read_summary(RunStore(run_dir), study.summary, study.name)


def run_labels(run_dirs: list[Path]) -> list[str]:
    """Each run's label: its folder name, or its path where two folders share a name."""
    names = [Path(d).name for d in run_dirs]
    return [n if names.count(n) == 1 else str(d) for n, d in zip(names, run_dirs, strict=True)]


def compare_runs(run_dirs: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(checkpoint table, findings table) of the runs, in the order given."""
    rows, findings = [], []
    for label, d in zip(run_labels(run_dirs), run_dirs, strict=True):
        study, s = read_run(d)
        rows += ROWS.get(study, lambda run, s: [])(label, s)
        findings += [{"run": label, "study": study, "id": f.id, "claim": f.claim, "unit": f.unit, "value": f.value,
                      "lo": f.ci[0], "hi": f.ci[1], "verdict": f.verdict} for f in s.findings]
    return pd.DataFrame(rows, columns=COLUMNS), pd.DataFrame(findings, columns=FINDING_COLUMNS)


def _points(x) -> str:
    return "–" if x is None or pd.isna(x) else f"{100 * x:.1f}"


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """The checkpoint table as printed: fractions as points, each value with its interval."""
    out = table[["run", "recipe", "probe", "step"]].copy()
    for p in ("target_gain", *PARTS):
        out[p] = [f"{_points(v)} [{_points(lo)}, {_points(hi)}]" if v is not None and not pd.isna(v) else "–"
                  for v, lo, hi in zip(table[p], table[f"{p}_lo"], table[f"{p}_hi"], strict=True)]
    out["label"] = table["label"]
    return out


def shown_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """The findings as printed: value [interval] in the finding's unit (fractions as points)."""
    def text(f) -> str:
        if f.unit == "fraction":
            return f"{_points(f.value)} [{_points(f.lo)}, {_points(f.hi)}] points"
        g = lambda x: "–" if x is None or pd.isna(x) else f"{x:.3g}"  # noqa: E731
        return f"{g(f.value)} [{g(f.lo)}, {g(f.hi)}] {f.unit}".rstrip()

    return pd.DataFrame({"run": findings["run"], "claim": findings["claim"],
                         "value [interval]": [text(f) for f in findings.itertuples(index=False)], "verdict": findings["verdict"]})


def markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table (no dependency on tabulate); `|` in cells escaped."""
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(cell, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def plot(table: pd.DataFrame, path: Path) -> None:
    """Forgetting, pseudo and actual against the fine-tuning step, one line per run and recipe."""
    from forgetscope.report.figures import new_figure, step_axis
    from forgetscope.store import atomic_write_bytes

    fig, axes = new_figure(width=11, height=3.4, ncols=3)
    for (run, recipe), g in table.groupby(["run", "recipe"], sort=False):
        g = g.sort_values("step")
        for ax, p in zip(axes, PARTS, strict=True):
            y = 100 * g[p].astype(float)
            line, = ax.plot(g["step"], y, marker="o", label=f"{run}: {recipe}")
            ax.fill_between(g["step"], 100 * g[f"{p}_lo"].astype(float), 100 * g[f"{p}_hi"].astype(float),
                            color=line.get_color(), alpha=0.15)
    for ax, p in zip(axes, PARTS, strict=True):
        step_axis(ax, table["step"])  # ticked at the checkpoints: a decade-ticked log axis labels none of 8, 32
        ax.set_title(f"{p} (points)")
    axes[0].legend(fontsize=7)
    atomic_write_bytes(path, png(fig))


def png(fig) -> bytes:
    """The figure as PNG bytes (the report's look: plain log ticks, tight layout), closed."""
    import base64

    from forgetscope.report.figures import to_data_uri

    return base64.b64decode(to_data_uri(fig).split(",", 1)[1])


def write(table: pd.DataFrame, findings: pd.DataFrame, out: Path) -> list[Path]:
    """compare-runs.csv (the summaries' fractions), compare-runs.md (points), findings.csv, compare-runs.png."""
    from forgetscope.store import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    paths = [atomic_write_text(out / "compare-runs.csv", table.to_csv(index=False)),
             atomic_write_text(out / "compare-runs.md", markdown(shown(table)) + "\n" + markdown(shown_findings(findings))),
             atomic_write_text(out / "findings.csv", findings.to_csv(index=False))]
    if len(table):
        plot(table, out / "compare-runs.png")
        paths.append(out / "compare-runs.png")
    return paths
