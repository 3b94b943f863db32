"""`forgetscope compare BASE TUNED`: the studies for a user who has exactly two models.

Nothing new is computed here: the comparison is a trajectory config whose one checkpoint is the
tuned model (`finetune.checkpoints_from: [{step: 1, path: TUNED}]`), and, with suites, a conjugate
config with the same two models; both run through the study registry, into sub-folders of one
run folder (`trajectory/`, `conjugate/`), so they resume and re-analyse like any run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from forgetscope.config import validate_config
from forgetscope.errors import UserError
from forgetscope.studies.registry import STUDIES, Study

TUNED_STEP = 1  # the tuned model's place in the one-checkpoint trajectory


@dataclass
class CompareRequest:
    base: str
    tuned: str
    probes: str | None = None
    tasks: list[str] = field(default_factory=list)
    include_path: list[str] = field(default_factory=list)
    restore_data: str | None = None
    restore_steps: int = 50
    heldout: str | None = None
    suites: list[str] = field(default_factory=list)
    dtype: str = "fp32"
    delta: float = 0.05
    batch_size: int = 32


def trajectory_config(r: CompareRequest) -> dict:
    if r.probes is None and not r.tasks:
        raise UserError("compare: give --probes FILE and/or --task NAME: something to score both models on")
    restorers = ["lm_training"] if r.restore_data else [{"name": "interpolation", "ratio": 0.5}]
    return {
        "study": "trajectory",
        "name": f"compare {Path(r.base).name} -> {Path(r.tuned).name}",
        "seeds": [0],
        "base": {"kind": "pretrained", "path": r.base, "dtype": r.dtype},
        "finetune": {"checkpoints_from": [{"step": TUNED_STEP, "path": r.tuned}]},
        "restore": {"data": r.restore_data, "restorers": restorers,
                    "train": {"steps": r.restore_steps, "batch_size": 8, "lr": 1e-4, "lr_schedule": "linear", "max_length": 128}},
        "eval": {"probes": r.probes or _no_probes(), "heldout_text": r.heldout, "pattern_prompts": None,
                 "lm_eval_tasks": r.tasks, "lm_eval_include_path": r.include_path, "batch_size": r.batch_size},
        "analysis": {"delta": r.delta},
        "runtime": {"workers": 1},
    }


def _no_probes() -> str:
    raise UserError("compare: lm-eval tasks alone are not supported yet: give --probes FILE too")


def conjugate_config(r: CompareRequest) -> dict:
    return {"study": "conjugate", "name": f"compare {Path(r.base).name} -> {Path(r.tuned).name}",
            "base": {"path": r.base, "dtype": r.dtype}, "tuned": {"path": r.tuned, "dtype": r.dtype},
            **{s: {} for s in r.suites}}


def configs(r: CompareRequest) -> list[tuple[Study, BaseModel, str]]:
    """(study, validated config, sub-folder) for every study the comparison runs."""
    out = []
    specs = [("trajectory", trajectory_config(r))]
    if r.suites:
        specs.append(("conjugate", conjugate_config(r)))
    for name, data in specs:
        study = STUDIES.get(name)
        out.append((study, validate_config(study.config, data, f"compare ({name})"), name))
    return out
