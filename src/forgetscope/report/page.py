"""Assemble report pages from study sections. Jinja autoescape escapes every string we insert;
only our own rendered sections and base64 images are marked safe."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from forgetscope import __version__
from forgetscope.errors import UserError
from forgetscope.runs import study_of
from forgetscope.store import RunStore, atomic_write_text

_env = Environment(loader=PackageLoader("forgetscope.report", "templates"), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.1f}"
_env.filters["num"] = lambda v, d=3: "–" if v is None else f"{v:.{d}f}"
_env.filters["ci"] = lambda ci: "–" if not ci or ci[0] is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


@dataclass
class Section:
    id: str
    title: str
    html: Markup


def _section_renderers():
    from forgetscope.report.trajectory import trajectory_context

    renderers = {"trajectory": ("Trajectory: pattern shift or knowledge loss?", "trajectory.html.j2", trajectory_context)}
    try:
        from forgetscope.report.regression import regression_context

        renderers["regression"] = ("Regression: suppression under fine-tuning, recovery by conjugate prompts", "regression.html.j2", regression_context)
    except ImportError:
        pass
    try:
        from forgetscope.report.conjugate import conjugate_context

        renderers["conjugate"] = ("Conjugate prompting: what a transformed prompt brings back", "conjugate.html.j2", conjugate_context)
    except ImportError:
        pass
    return renderers


def section_for(store: RunStore) -> Section:
    study = study_of(store.root)
    renderers = _section_renderers()
    if study not in renderers:
        raise UserError(f"{store.root}: no report for study {study!r}")
    if not store.summary_path.exists():
        raise UserError(f"{store.root}: no summary.json yet; finish the run first (`forgetscope run {store.config_path}`)")
    title, template, context = renderers[study]
    ctx = context(store)
    config_text = store.config_path.read_text()
    html = _env.get_template(template).render(**ctx, config_yaml=config_text, run_dir=str(store.root))
    return Section(study, title, Markup(html))


def _page(title: str, sections: list[Section], manifest: dict | None) -> str:
    return _env.get_template("page.html.j2").render(
        title=title, sections=sections, manifest=manifest or {}, version=__version__,
        generated=time.strftime("%Y-%m-%d %H:%M"),
    )


def _manifest(store: RunStore) -> dict:
    import json

    return json.loads(store.manifest_path.read_text()) if store.manifest_path.exists() else {}


def render_report(store: RunStore) -> Path:
    section = section_for(store)
    atomic_write_text(store.report_path, _page(f"forgetscope · {section.id} · {store.root.name}", [section], _manifest(store)))
    return store.report_path


def render_suite_report(root: Path, stores: list[RunStore]) -> Path:
    """One page with a section per study run (the demo)."""
    sections = [section_for(s) for s in stores]
    out = Path(root) / "report.html"
    manifest = _manifest(stores[0]) if stores else {}
    atomic_write_text(out, _page(f"forgetscope demo · {Path(root).name}", sections, manifest))
    return out


