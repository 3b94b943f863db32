"""What `forgetscope eval` and `forgetscope compare` do, behind the command line's options: check every
input first (forgetscope.preflight), then score (evaluation.one_model) or run the studies
(forgetscope.compare), write tidy tables, print a table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from forgetscope import preflight
from forgetscope.errors import UserError
from forgetscope.preflight import Check
from forgetscope.store import atomic_write_bytes


def _stdout() -> Console:
    """Tables go to stdout; piped or captured, wide enough that no cell is cut."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


def _pct(x) -> str:
    return "–" if x is None or pd.isna(x) else f"{100 * x:.1f}"


def run_eval(model: str, *, probes: str | None, tasks: list[str], include_path: list[str], base: str | None, revision: str | None,
             dtype: str, chat_template: str | None, batch_size: int, max_new_tokens: int, ci_level: float, out: Path,
             console: Console, threads: int | None = None) -> None:
    from forgetscope.evaluation.items import load_items
    from forgetscope.evaluation.one_model import score_model
    from forgetscope.evaluation.probe_runner import ProbeSettings
    from forgetscope.execution import quiet_libraries
    from forgetscope.models import ModelSpec
    from forgetscope.models.loading import is_local_path

    if probes is None and not tasks:
        raise UserError("eval: give --probes FILE and/or --task NAME")
    quiet_libraries()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    spec = ModelSpec(path=base or model, revision=None if base else revision, dtype=dtype, chat_template=chat_template)  # type: ignore[arg-type]
    checks = [Check("MODEL", spec.check)]
    if base is not None:
        checks.append(Check("MODEL", lambda: preflight.checkpoints([{"step": 1, "path": model}], spec)))
    if probes is not None:
        checks.append(Check("--probes", lambda: preflight.probes(probes)))
    if tasks:
        checks.append(Check("--task", lambda: preflight.lm_eval_tasks(tasks, include_path)))
    preflight.run_checks(checks)
    items = load_items(probes) if probes is not None else []
    own_tokenizer = not is_local_path(model) or _has_tokenizer(model)
    tokenizer = (ModelSpec(path=model, revision=revision, chat_template=chat_template) if own_tokenizer else spec).load_tokenizer()
    loaded = spec.load_model(path=model) if base is not None else spec.load_model()  # an adapter goes on --base, else on its own base
    result = score_model(loaded, tokenizer, items, ProbeSettings(max_new_tokens=max_new_tokens), tasks=tasks,
                         include_path=include_path, batch_size=batch_size)
    out.mkdir(parents=True, exist_ok=True)
    tag = {"model": model, "revision": revision}
    tables = {"items": result.items, "lm_eval": result.documents, "lm_eval_aggregates": result.aggregates}
    for name, df in tables.items():
        if not df.empty:
            atomic_write_bytes(out / f"{name}.parquet", df.assign(**tag).to_parquet(index=False))
    _print_eval(model, result, ci_level, console)
    print(f"tables: {out}/")


def _has_tokenizer(folder: str) -> bool:
    p = Path(folder).expanduser()
    return any((p / n).exists() for n in ("tokenizer.json", "tokenizer_config.json"))


def _print_eval(model: str, result, level: float, console: Console) -> None:
    from forgetscope.evaluation.one_model import probe_table

    table = Table(title=f"{model}: scores (%), {int(100 * level)}% item-bootstrap intervals")
    for col in ("probe", "metric", "n", "score", "interval"):
        table.add_column(col, justify="left" if col in ("probe", "metric") else "right")
    frames = []
    if not result.items.empty:
        frames.append(probe_table(result.items, level=level).assign(metric="score"))
    if not result.documents.empty:
        frames.append(probe_table(result.documents, level=level))
    for df in frames:
        for r in df.itertuples():
            table.add_row(str(r.probe), str(r.metric), str(r.n), _pct(r.score), f"[{_pct(r.lo)}, {_pct(r.hi)}]")
    _stdout().print(table)
    if not result.aggregates.empty:
        agg = Table(title="lm-eval's own aggregates")
        for col in ("task", "metric", "value", "stderr", "n"):
            agg.add_column(col)
        for r in result.aggregates.itertuples():
            agg.add_row(str(r.probe), str(r.metric), f"{r.value:.4f}", "–" if r.stderr is None or pd.isna(r.stderr) else f"{r.stderr:.4f}",
                        str(r.n))
        _stdout().print(agg)


def run_compare(req, out: Path, *, console: Console, quiet: bool) -> None:
    from forgetscope.compare import configs
    from forgetscope.execution import ProgressView

    runs = configs(req)
    for study, cfg, _ in runs:  # every input of every study, before any of them computes
        if study.preflight is not None:
            study.preflight(cfg)
    summaries = {}
    with ProgressView(console, quiet=quiet) as view:
        for study, cfg, sub in runs:
            summaries[sub] = study.run(cfg, out / sub, view)
    if summaries.get("trajectory") is not None:
        summary = summaries["trajectory"]
        cfg = runs[0][1]
        title = f"{req.base} -> {req.tuned}: scores (%), {_restoration(summary, cfg)}; label at δ = {100 * summary.delta:g} points"
        _stdout().print(trajectory_table(summary, sorted(summary.probes), title))
        print_damaged_controls(summary)
    for sub in summaries:
        print(f"{sub}: {out / sub / 'summary.json'}  report: {out / sub / 'report.html'}")


def _restoration(summary, cfg) -> str:
    """How the leading restorer restored: its kind, and for LM training its budget."""
    lead = summary.restorers[0]
    if lead.name != "lm_training":
        return f"restored by {lead.describe}"
    t = cfg.restore.train
    return (f"restored by LM training ({t.steps} steps x {t.batch_size} x {t.max_length} tokens, lr {t.lr:g}"
            f"{f', x{lead.budget:g}' if lead.budget != 1 else ''})")


def trajectory_table(summary, probes: list[str], title: str) -> Table:
    """A trajectory summary as a table: one row per probe and checkpoint, under the leading restorer."""
    table = Table(title=title)
    for col in ("probe", "step", "base", "score", "forgetting [CI]", "restored base", "restored", "label", "intervals say"):
        table.add_column(col, justify="left" if col in ("probe", "label", "intervals say") else "right")
    for name in probes:
        ps = summary.probes[name]
        for c in ps.checkpoints:
            lo, hi = c.ci.forgetting
            table.add_row(name + (f" (lm-eval {ps.metric})" if ps.source == "lm_eval" else ""), str(c.step), _pct(ps.base), _pct(c.score),
                          f"{_pct(c.forgetting)} [{_pct(lo)}, {_pct(hi)}]", _pct(ps.restored_base), _pct(c.restored), c.label,
                          c.label_ci + (" (not saturated)" if c.saturated is False else ""))
    return table


def print_summary(summary) -> None:
    """What `run` prints at the end: the findings, each with its verdict, and (trajectory) the primary
    probe's table, as `compare` prints it."""
    if summary is None:
        return
    findings = getattr(summary, "findings", [])
    if findings:
        table = Table(title=f"{summary.name}: findings")
        for col in ("claim", "measure", "value [CI]", "verdict"):
            table.add_column(col, justify="right" if col == "value [CI]" else "left")
        for f in findings:
            table.add_row(f.claim, f.measure, _value(f), f.verdict)
        _stdout().print(table)
    if getattr(summary, "study", None) == "trajectory":
        title = f"{summary.name}: {summary.probe}, scores (%) under {summary.restorers[0].title}; label at δ = {100 * summary.delta:g} points"
        _stdout().print(trajectory_table(summary, [summary.probe], title))
        print_damaged_controls(summary)


def print_damaged_controls(summary) -> None:
    """The sentence, with the numbers, for every restorer whose restoration lowered the base itself by
    more than δ (the labels leaning on it are uncertain)."""
    controls = getattr(summary, "damaged_controls", None)
    if controls:
        from forgetscope.analysis.stage_rule import control_sentences

        for sentence in control_sentences(controls, summary.delta):
            _stdout().print(sentence, highlight=False, soft_wrap=True)


def _value(f) -> str:
    """A finding's value and interval in its unit; fractions as points."""
    if f.unit == "fraction":
        return f"{_pct(f.value)} [{_pct(f.ci[0])}, {_pct(f.ci[1])}] points"
    num = lambda x: "–" if x is None or pd.isna(x) else f"{x:.3g}"  # noqa: E731
    return f"{num(f.value)} [{num(f.ci[0])}, {num(f.ci[1])}] {f.unit}"
