"""`forgetscope demo`: every study at demo scale on the synthetic worlds, one combined report.

The demo is a suite of ordinary runs (RUN_DIR/<study>/, each resumable on its own) listed in
RUN_DIR/suite.json; the combined report has one section per study.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rich.console import Console

from forgetscope.execution import ProgressView
from forgetscope.report import render_suite_report
from forgetscope.store import RunStore, atomic_write_json

SUITE_FILE = "suite.json"
DEMO_STUDIES = ("trajectory", "conjugate", "regression")  # conjugate reads the trajectory run's models: keep it after


def demo_config_path(study: str) -> Path:
    return Path(str(resources.files("forgetscope") / "configs" / f"demo-{study}.yaml"))


def run_demo(out: Path, *, console: Console | None = None, quiet: bool = False) -> Path:
    from forgetscope.errors import UserError
    from forgetscope.preflight import preflight
    from forgetscope.studies.registry import load_config

    if out.is_dir() and any(out.iterdir()) and not (out / SUITE_FILE).exists():
        raise UserError(f"{out}: not empty and not a demo folder (no {SUITE_FILE}); choose another --out")
    configs = {name: load_config(demo_config_path(name)) for name in DEMO_STUDIES}
    for name, (study, cfg) in configs.items():
        preflight(cfg, out / name, study.may_change)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / SUITE_FILE, {"runs": list(DEMO_STUDIES)})
    with ProgressView(console, quiet=quiet) as view:
        for name in DEMO_STUDIES:
            study, cfg = configs[name]
            study.run(cfg, out / name, view)
    return render_demo_report(out)


def render_demo_report(out: Path) -> Path:
    import json

    runs = json.loads((out / SUITE_FILE).read_text())["runs"]
    return render_suite_report(out, [RunStore(out / r) for r in runs if (out / r / "summary.json").exists()])
