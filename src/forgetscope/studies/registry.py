"""The studies: each one's record (Study), and the one place a study is registered (STUDIES)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import BaseModel

from forgetscope.errors import UserError
from forgetscope.registry import Entry, Registry, resolve


@dataclass(frozen=True)
class Study:
    """A study's one record: everything the rest of forgetscope knows of it. Each study declares its
    record in its own folder (`study.py`) and is registered once, in STUDIES below; the consumers
    (`run`, `validate`, `schema`, `report`, `demo`, the help text) read it from there and name no study.

    Heavy parts are named, not held ("module:attribute"), and imported when used: loading and checking
    a config (`forgetscope validate`, a config error from `run`) and `forgetscope schema` never import
    torch or transformers, only the config's and summary's own modules (tests/test_light_imports.py)."""

    name: str
    config: type[BaseModel]
    runner: str  # "module:function"; the function: run(cfg, run_dir, view) -> its summary (None on a launched group's other processes)
    summary: type[BaseModel]  # the pydantic model of its summary.json: `forgetscope schema`, and what the report reads back
    report: str  # "module:attribute" of its report section (forgetscope.report.page.ReportSection)
    demo: str | None = None  # "package:path" of its `forgetscope demo` config (run in registration order); None: not in it
    preflight: Callable | None = None  # preflight(cfg): reads and checks every input before compute (forgetscope.preflight)
    may_change: tuple[str, ...] = ()  # config sections a run folder accepts as changed (forgetscope.runs.prepare_run)
    launchable: bool = False  # runs under a launcher (torchrun, accelerate launch), the group sharing its work (docs/scale.md)

    def run(self, cfg: BaseModel, run_dir: Path, view):
        from forgetscope.distributed import launched

        if launched() and not self.launchable:
            raise UserError(f"the {self.name} study runs in one process (its seeds in parallel worker processes): "
                            "start it without a launcher (torchrun, accelerate launch); docs/scale.md")
        return resolve(self.runner)(cfg, run_dir, view)

    def section(self):
        """Its report section, imported now (matplotlib, pandas)."""
        return resolve(self.report)

    def demo_config(self) -> Path | None:
        if self.demo is None:
            return None
        package, path = self.demo.split(":")
        return Path(str(resources.files(package) / path))


# A new study: its folder (its record, STUDY, in study.py) and one line here (docs/extending.md).
STUDIES = Registry("study", [
    Entry("trajectory", "forgetscope.studies.trajectory.study:STUDY",
          "fine-tune with checkpoints; probe, restore, probe again: pseudo vs actual forgetting (Zhang et al.)"),
    Entry("conjugate", "forgetscope.studies.conjugate.study:STUDY",
          "base vs fine-tuned model on capability suites under prompt transforms: what a transform recovers (Kotha et al.)"),
    Entry("regression", "forgetscope.studies.regression.study:STUDY",
          "in-context linear regression: fine-tune on the discrete family, damage vs ridge, conjugate prompts (Kotha et al.)"),
    Entry("unlearning", "forgetscope.studies.unlearning.study:STUDY",
          "unlearn a forget set, attack by relearning and conjugate prompts: removed or hidden, against an oracle"),
    Entry("recipes", "forgetscope.studies.recipes.study:STUDY", "fine-tuning recipes side by side: target gain vs pseudo and actual forgetting"),
])


def load_config(path: Path, overrides: list[str] | None = None) -> tuple[Study, BaseModel]:
    """A study config from YAML (+ `--set` overrides), validated; the study is named by its `study` key."""
    from forgetscope.config import apply_overrides, load_yaml, validate_config
    from forgetscope.config.loading import place

    data, lines = load_yaml(path)
    data = apply_overrides(data, overrides or [], lines)
    name = data.get("study")
    if name not in STUDIES:
        where = place(str(path), lines, ("study",))
        known = ", ".join(STUDIES.names())
        raise UserError(f"{where}: field 'study': {'missing' if name is None else repr(name) + ' is unknown'} (one of: {known})")
    study = STUDIES.get(name)
    return study, validate_config(study.config, data, str(path), lines)


def study_of_run(run_dir: Path) -> Study:
    """The record of the study a run folder holds (its config's `study`)."""
    from forgetscope.runs import study_of

    return STUDIES.get(study_of(run_dir))
