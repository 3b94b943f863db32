"""`forgetscope demo`: every study at demo scale on the synthetic worlds, one combined report.

The demo is a suite of ordinary runs (RUN_DIR/<study>/, each resumable on its own) listed in
RUN_DIR/suite.json; the combined report has one section per study. Which studies, in which order,
with which config: each registered study whose record names a demo config, in registration order
(forgetscope.studies.registry).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from forgetscope.errors import UserError
from forgetscope.execution import ProgressView
from forgetscope.report import render_suite_report
from forgetscope.store import RunStore, atomic_write_json
from forgetscope.studies.registry import STUDIES, study_of_run

SUITE_FILE = "suite.json"


def demo_studies() -> tuple[str, ...]:
    """The studies the demo runs, in order: those whose record names a demo config."""
    return tuple(name for name in STUDIES.names() if STUDIES.get(name).demo is not None)


def demo_config_path(study: str) -> Path:
    path = STUDIES.get(study).demo_config()
    if path is None:
        raise UserError(f"study {study!r} has no demo config")
    return path


def run_demo(out: Path, *, console: Console | None = None, quiet: bool = False) -> Path:
    from forgetscope.preflight import preflight
    from forgetscope.studies.registry import load_config

    if out.is_dir() and any(out.iterdir()) and not (out / SUITE_FILE).exists():
        raise UserError(f"{out}: not empty and not a demo folder (no {SUITE_FILE}); choose another --out")
    configs = {name: load_config(demo_config_path(name)) for name in demo_studies()}
    for name, (study, cfg) in configs.items():
        preflight(cfg, out / name, study.may_change)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / SUITE_FILE, {"runs": list(configs)})
    with ProgressView(console, quiet=quiet) as view:
        for name, (study, cfg) in configs.items():
            study.run(cfg, out / name, view)
    return render_demo_report(out)


def render_demo_report(out: Path) -> Path:
    import json

    runs = json.loads((out / SUITE_FILE).read_text())["runs"]
    done = [r for r in runs if (out / r / "summary.json").exists()]
    return render_suite_report(out, [(RunStore(out / r), study_of_run(out / r)) for r in done])
