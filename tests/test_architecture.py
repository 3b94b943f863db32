"""The layout is part of the design: studies meet only through the run store (forgetscope.views),
stage files do not import each other, no private name crosses a module, every stage of every study
runs through the one stage idiom (forgetscope.studies.stages.run_stage), and a new study is its
folder plus one line in forgetscope.studies.registry.STUDIES."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "forgetscope"
STUDIES = sorted(p.name for p in (SRC / "studies").iterdir() if p.is_dir() and (p / "__init__.py").exists())
STAGE_FILE = re.compile(r"s\d+_\w+\.py$")


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every `import` / `from ... import` in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names]))
    return out


def test_every_study_folder_is_registered():
    """A study folder is a registered study, and the other way round (the registration names the
    record in the folder): the one line that adds a study is not forgotten, and there is no other."""
    from forgetscope.studies.registry import STUDIES as STUDY_REGISTRY

    assert len(STUDIES) >= 3
    assert set(STUDIES) == set(STUDY_REGISTRY.names())
    for name in STUDIES:
        assert STUDY_REGISTRY.entry(name).target == f"forgetscope.studies.{name}.study:STUDY"


@pytest.mark.parametrize("study", STUDIES)
def test_a_study_imports_no_other_study(study):
    others = [s for s in STUDIES if s != study]
    for f in (SRC / "studies" / study).glob("*.py"):
        for module, _ in imports(f):
            for other in others:
                assert not module.startswith(f"forgetscope.studies.{other}"), f"{f.name} imports {module}"


@pytest.mark.parametrize("study", STUDIES)
def test_a_stage_file_imports_no_sibling_stage_file(study):
    folder = SRC / "studies" / study
    for f in folder.glob("*.py"):
        if not STAGE_FILE.match(f.name):
            continue
        for module, _ in imports(f):
            last = module.rsplit(".", 1)[-1]
            assert not (module.startswith(f"forgetscope.studies.{study}.") and STAGE_FILE.match(last + ".py")), \
                f"{f.name} imports the stage file {module}"


def test_no_private_name_crosses_a_module():
    for f in SRC.rglob("*.py"):
        for module, names in imports(f):
            if module.startswith("forgetscope"):
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                assert not private, f"{f.relative_to(SRC)} imports private {private} from {module}"


@pytest.mark.parametrize("study", STUDIES)
def test_every_stage_runs_through_the_one_stage_idiom(study):
    """No stage locks, skips or marks itself done by hand: run_stage does that for all of them."""
    for f in (SRC / "studies" / study).glob("s*_*.py"):
        if not STAGE_FILE.match(f.name) or "results_analyze" in f.name:
            continue
        text = f.read_text()
        assert "run_stage(" in text, f"{f.name} does not run through run_stage"
        for hand_made in (".exclusive(", ".run_units(", ".mark_done(", ".mark_unit_done(", ".reset()"):
            assert hand_made not in text, f"{f.name} calls {hand_made} itself"


def test_the_registries_share_one_shape_and_every_entry_loads():
    """Studies, suites, transforms and restorers: one Registry class; every entry imports (a broken
    plug-in fails here, loudly, not as 'unknown name'), and so does every part a study's record names."""
    from pydantic import BaseModel

    from forgetscope.registry import Registry, resolve
    from forgetscope.report.page import ReportSection
    from forgetscope.restoration import RESTORERS
    from forgetscope.studies.registry import STUDIES as STUDY_REGISTRY
    from forgetscope.studies.registry import Study
    from forgetscope.suites import SUITES
    from forgetscope.transforms import TRANSFORMS

    for reg in (STUDY_REGISTRY, SUITES, TRANSFORMS, RESTORERS):
        assert isinstance(reg, Registry)
        for name in reg.names():
            assert reg.get(name) is not None, (reg.kind, name)
    for name in STUDY_REGISTRY.names():
        study = STUDY_REGISTRY.get(name)
        assert isinstance(study, Study) and study.name == name
        assert issubclass(study.summary, BaseModel) and issubclass(study.config, BaseModel)
        assert isinstance(study.section(), ReportSection) and callable(resolve(study.runner))
        assert study.demo is None or study.demo_config().is_file(), study.demo


# A study that is not forgetscope's: a package of its own (the folder a new study adds), with its
# record, config, summary, runner, report section and template, and demo config.
TOY_STUDY = {
    "__init__.py": "",
    "study.py": '''
from typing import Literal

from forgetscope.config import StrictModel
from forgetscope.schema import Finding, Record
from forgetscope.studies.registry import Study


class ToyConfig(StrictModel):
    study: Literal["toy"] = "toy"
    name: str = "toy"
    seeds: list[int] = [0]
    value: float = 1.0


class ToySummary(Record):
    study: Literal["toy"] = "toy"
    name: str
    ci_level: float
    findings: list[Finding]
    doubled: float


STUDY = Study("toy", ToyConfig, "toystudy.main:run", ToySummary, report="toystudy.report:SECTION",
              demo="toystudy:demo.yaml")
''',
    "main.py": '''
from forgetscope.report import render_report
from forgetscope.runs import prepare_run
from forgetscope.store import atomic_write_text
from toystudy.study import STUDY, ToySummary


def run(cfg, run_dir, view):
    store = prepare_run(run_dir, cfg)
    summary = ToySummary(name=cfg.name, ci_level=0.95, findings=[], doubled=2 * cfg.value)
    atomic_write_text(store.summary_path, summary.model_dump_json())
    render_report(store, STUDY)
    return summary
''',
    "report.py": '''
from forgetscope.report.page import ReportSection

SECTION = ReportSection("Toy study", "toystudy:toy.html.j2", lambda store, summary: {"s": summary})
''',
    "toy.html.j2": '<p id="toy">doubled: {{ s.doubled }}</p>\n',
    "demo.yaml": "study: toy\nname: demo\nvalue: 4\n",
}


def test_a_new_study_needs_its_folder_and_one_registration(tmp_path, monkeypatch):
    """A study outside forgetscope, registered with one line, is found by every consumer: `schema`,
    `validate`, `run`, `report` (its section, its own template) and the demo's list and config."""
    from conftest import run_cli

    from forgetscope.demo import demo_config_path, demo_studies
    from forgetscope.registry import Entry
    from forgetscope.studies.registry import STUDIES as STUDY_REGISTRY

    package = tmp_path / "toystudy"
    package.mkdir()
    for name, text in TOY_STUDY.items():
        (package / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(STUDY_REGISTRY.entries, "toy", Entry("toy", "toystudy.study:STUDY"))  # the one registration

    schema = run_cli("schema", "toy")
    assert schema.returncode == 0, schema.stderr
    assert json.loads(schema.stdout)["properties"]["doubled"]["type"] == "number"
    assert "| `doubled` | float |" in run_cli("schema", "toy", "--markdown").stdout
    config = tmp_path / "toy.yaml"
    config.write_text("study: toy\nname: mine\nvalue: 1.5\n")
    assert run_cli("validate", config).returncode == 0
    run = tmp_path / "run"
    done = run_cli("run", config, "--out", run, "--quiet")
    assert done.returncode == 0, done.stderr
    assert json.loads((run / "summary.json").read_text())["doubled"] == 3.0
    (run / "report.html").unlink()
    assert run_cli("report", run).returncode == 0
    assert '<p id="toy">doubled: 3.0</p>' in (run / "report.html").read_text()
    assert demo_studies()[-1] == "toy" and "value: 4" in demo_config_path("toy").read_text()


def test_a_broken_plugin_fails_loudly(monkeypatch):
    from forgetscope.errors import UserError
    from forgetscope.registry import Entry, Registry

    reg = Registry("thing", [Entry("broken", "forgetscope.no_such_module:X")])
    with pytest.raises(ModuleNotFoundError):
        reg.get("broken")
    with pytest.raises(UserError, match="unknown thing 'other' .one of: broken"):
        reg.get("other")
