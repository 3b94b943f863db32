"""Assemble report pages from study sections. Jinja autoescape escapes every string we insert;
only our own rendered sections and base64 images are marked safe."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

from jinja2 import ChoiceLoader, Environment, FunctionLoader, PackageLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, ValidationError

from forgetscope import __version__
from forgetscope.errors import UserError
from forgetscope.runs import read_manifest
from forgetscope.store import RunStore, atomic_write_text


def _package_template(name: str) -> str | None:
    """A template named "package:file" (a study's own, beside its code), read from that package."""
    if ":" not in name:
        return None
    package, file = name.split(":", 1)
    return (resources.files(package) / file).read_text(encoding="utf-8")


# Templates: a name alone is one of report/templates/; "package:file" one of that package's files.
_env = Environment(loader=ChoiceLoader([PackageLoader("forgetscope.report", "templates"), FunctionLoader(_package_template)]),
                   autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
_env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.1f}"
_env.filters["num"] = lambda v, d=3: "–" if v is None else f"{v:.{d}f}"
def seeds_text(n: int) -> str:
    """"1 seed", "5 seeds": how many seeds an interval is over, in words a reader does not trip on."""
    return f"{n} seed" if n == 1 else f"{n} seeds"


_env.filters["seeds"] = seeds_text
_env.filters["ci"] = lambda ci: "–" if not ci or ci[0] is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _finding_value(v, unit: str) -> str:
    """A finding's number in its unit: fractions as points, steps as integers, the rest as they are."""
    if v is None:
        return "–"
    if unit == "fraction":
        return f"{100 * v:.1f} pts"
    if unit == "step":
        return str(int(v))
    return f"{v:+.3f}"


_env.filters["fval"] = _finding_value


@dataclass(frozen=True)
class ReportSection:
    """A study's part of a report page: its title, its Jinja template (a name in report/templates/, or
    "package:file"), and the function that turns the run (its store and typed summary) into the
    template's variables. One per study, named by its record (forgetscope.studies.registry.Study)."""

    title: str
    template: str
    context: Callable[[RunStore, BaseModel], dict]


class ReportedStudy(Protocol):
    """What a report needs of a study: forgetscope.studies.registry.Study is one. Passed in by the
    caller, so that the report names no study (and imports none)."""

    name: str
    summary: type[BaseModel]

    def section(self) -> ReportSection: ...


@dataclass
class RenderedSection:
    """A study's section of a page, rendered."""

    id: str
    title: str
    html: Markup
    findings: Markup  # the study's findings table (the page opens with all of them)


def read_summary(store: RunStore, model: type[BaseModel], study: str) -> BaseModel:
    """The run's summary.json as its study's typed summary (`model`, the study's record's)."""
    if not store.summary_path.exists():
        raise UserError(f"{store.root}: no summary.json yet; finish the run first (`forgetscope run {store.config_path}`)")
    try:
        return model.model_validate_json(store.summary_path.read_text())
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise UserError(f"{store.summary_path}: not a {study} summary of this forgetscope version ({where}: {err['msg']}); "
                        f"re-run `forgetscope run {store.config_path}` to rewrite it") from None


def section_for(store: RunStore, study: ReportedStudy) -> RenderedSection:
    section = study.section()
    summary = read_summary(store, study.summary, study.name)
    ctx = section.context(store, summary)
    config_text = store.config_path.read_text()
    findings = _env.get_template("findings.html.j2").render(findings=summary.findings, ci_level=summary.ci_level)
    html = _env.get_template(section.template).render(**ctx, findings_table=Markup(findings), config_yaml=config_text,
                                                       run_dir=str(store.root))
    return RenderedSection(study.name, section.title, Markup(html), Markup(findings))


def _page(title: str, sections: list[RenderedSection], manifest: dict | None) -> str:
    return _env.get_template("page.html.j2").render(
        title=title, sections=sections, manifest=manifest or {}, version=__version__,
        generated=time.strftime("%Y-%m-%d %H:%M"),
    )


def _manifest(store: RunStore) -> dict:
    return read_manifest(store)


def read_table(path: Path):
    """A results table for the report; a missing or damaged one is a one-line error."""
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise UserError(f"{path}: missing; re-run the study to write its results") from None
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise UserError(f"{path}: damaged ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                        "re-run the study to write its results again") from None


def render_report(store: RunStore, study: ReportedStudy) -> Path:
    """RUN/report.html: the run's section (`study`: the run's study record)."""
    section = section_for(store, study)
    atomic_write_text(store.report_path, _page(f"forgetscope · {section.id} · {store.root.name}", [section], _manifest(store)))
    return store.report_path


def render_suite_report(root: Path, runs: list[tuple[RunStore, ReportedStudy]]) -> Path:
    """One page with a section per study run (the demo): `runs` are (run store, its study record)."""
    sections = [section_for(store, study) for store, study in runs]
    out = Path(root) / "report.html"
    manifest = _manifest(runs[0][0]) if runs else {}
    atomic_write_text(out, _page(f"forgetscope demo · {Path(root).name}", sections, manifest))
    return out


