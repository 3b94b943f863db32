"""Study names usable as `study:` in a config, looked up only here, at the config boundary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from forgetscope.errors import UserError
from forgetscope.registry import Entry, Registry, resolve


@dataclass(frozen=True)
class Study:
    """What a study is to the rest of forgetscope: its config, how to run it, what it writes.

    The runner is named, not held ("module:function"), and imported when a run starts: loading and
    checking a config (`forgetscope validate`, a config error from `run`) never imports torch or
    transformers, only the config's own modules (tests/test_light_imports.py)."""

    name: str
    config: type[BaseModel]
    runner: str  # "module:function"; the function: run(cfg, run_dir, view) -> its summary (None on a launched group's other processes)
    summary: type[BaseModel]  # the pydantic model of its summary.json (forgetscope.schema)
    preflight: Callable | None = None  # preflight(cfg): reads and checks every input before compute (forgetscope.preflight)
    may_change: tuple[str, ...] = ()  # config sections a run folder accepts as changed (forgetscope.runs.prepare_run)

    def run(self, cfg: BaseModel, run_dir: Path, view):
        return resolve(self.runner)(cfg, run_dir, view)


STUDIES = Registry("study", [
    Entry("trajectory", "forgetscope.studies.trajectory.study:STUDY",
          "fine-tune with checkpoints; probe, restore, probe again: pseudo vs actual forgetting (Zhang et al.)"),
    Entry("conjugate", "forgetscope.studies.conjugate.study:STUDY",
          "base vs fine-tuned model on capability suites under prompt transforms: what a transform recovers (Kotha et al.)"),
    Entry("regression", "forgetscope.studies.regression.study:STUDY",
          "in-context linear regression: fine-tune on the discrete family, damage vs ridge, conjugate prompts (Kotha et al.)"),
])


def load_config(path: Path, overrides: list[str] | None = None) -> tuple[Study, BaseModel]:
    """A study config from YAML (+ `--set` overrides), validated; the study is named by its `study` key."""
    from forgetscope.config import apply_overrides, load_yaml, validate_config

    data, lines = load_yaml(path)
    data = apply_overrides(data, overrides or [])
    name = data.get("study")
    if name not in STUDIES:
        where = f"{path}:{lines[('study',)]}" if ("study",) in lines else str(path)
        known = ", ".join(STUDIES.names())
        raise UserError(f"{where}: field 'study': {'missing' if name is None else repr(name) + ' is unknown'} (one of: {known})")
    study = STUDIES.get(name)
    return study, validate_config(study.config, data, str(path), lines)
