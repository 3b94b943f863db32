"""The layout is part of the design: studies meet only through the run store (forgetscope.views),
stage files do not import each other, no private name crosses a module, and every stage of every
study runs through the one stage idiom (forgetscope.studies.stages.run_stage)."""

from __future__ import annotations

import ast
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


def test_there_are_studies_to_check():
    assert set(STUDIES) == {"trajectory", "conjugate", "regression"}


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
    """Studies, suites, transforms, restorers and report sections: one Registry class; every entry
    imports (a broken plug-in fails here, loudly, not as 'unknown name')."""
    from forgetscope.registry import Registry
    from forgetscope.report.page import SECTIONS
    from forgetscope.restoration import RESTORERS
    from forgetscope.studies.registry import STUDIES as STUDY_REGISTRY
    from forgetscope.suites import SUITES
    from forgetscope.transforms import TRANSFORMS

    for reg in (STUDY_REGISTRY, SUITES, TRANSFORMS, RESTORERS, SECTIONS):
        assert isinstance(reg, Registry)
        for name in reg.names():
            assert reg.get(name) is not None, (reg.kind, name)
    assert set(SECTIONS.names()) == set(STUDY_REGISTRY.names())


def test_a_broken_plugin_fails_loudly(monkeypatch):
    from forgetscope.errors import UserError
    from forgetscope.registry import Entry, Registry

    reg = Registry("thing", [Entry("broken", "forgetscope.no_such_module:X")])
    with pytest.raises(ModuleNotFoundError):
        reg.get("broken")
    with pytest.raises(UserError, match="unknown thing 'other' .one of: broken"):
        reg.get("other")
