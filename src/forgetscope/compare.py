"""`forgetscope compare BASE TUNED`: the studies for a user who has exactly two models.

Nothing new is computed here: the comparison is a trajectory config whose one checkpoint is the
tuned model (`finetune.checkpoints_from: [{step: 1, path: TUNED}]`), and, with suites, a conjugate
config with the same two models; both run through the study registry, into sub-folders of one
run folder (`trajectory/`, `conjugate/`), so they resume and re-analyse like any run. Its restore,
eval, analysis and runtime sections are a run's: the trajectory study's defaults, or those of
--config, with --set on top; so `compare` labels a checkpoint as `run` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from forgetscope.config import apply_overrides, load_yaml, validate_config
from forgetscope.errors import UserError
from forgetscope.studies.registry import STUDIES, Study

TUNED_STEP = 1  # the tuned model's place in the one-checkpoint trajectory


@dataclass
class CompareRequest:
    """The command line's options; None: not given (the trajectory study's default, or --config's value)."""

    base: str
    tuned: str
    probes: str | None = None
    tasks: list[str] = field(default_factory=list)
    include_path: list[str] = field(default_factory=list)
    restore_data: str | None = None
    restore_steps: int | None = None
    heldout: str | None = None
    suites: list[str] = field(default_factory=list)
    dtype: str | None = None
    delta: float | None = None
    threads: int | None = None
    config: Path | None = None  # a trajectory config: its restore, eval, analysis and runtime sections
    overrides: list[str] = field(default_factory=list)  # --set KEY=VALUE, on the trajectory config


def trajectory_config(r: CompareRequest) -> tuple[dict, str, dict]:
    """The trajectory config of the comparison, as data (with its source and YAML line numbers for
    error messages): --config's sections (or the study's defaults, as `run` has them), the two models,
    then the options given, then --set. The restoration, its budgets and the stage rule are thus
    `run`'s own: the same restorers (the doubled budget that checks saturation included), the same
    keys, the same defaults. Without restoration data, the one restorer that needs none."""
    data, lines = load_yaml(r.config) if r.config is not None else ({}, {})
    if data.get("study", "trajectory") != "trajectory":
        raise UserError(f"{r.config}: compare takes a trajectory config (its restore, eval and analysis sections), not a "
                        f"{data.get('study')!r} one")
    base = data.get("base") if isinstance(data.get("base"), dict) and data["base"].get("kind") == "pretrained" else {}
    data["base"] = {**{k: v for k, v in base.items() if k not in ("path", "revision")}, "kind": "pretrained", "path": r.base}
    if r.dtype is not None:
        data["base"]["dtype"] = r.dtype
    data.update(study="trajectory", name=f"compare {Path(r.base).name} -> {Path(r.tuned).name}")
    data.setdefault("seeds", [0])
    data["finetune"] = {"checkpoints_from": [{"step": TUNED_STEP, "path": r.tuned}]}
    if r.config is None:  # sources compare has no option for are off, not the fact world's
        data.update(restore={"data": None}, eval={"heldout_text": None, "pattern_prompts": None})
    given = {"restore.data": r.restore_data, "restore.train.steps": r.restore_steps, "eval.probes": r.probes,
             "eval.lm_eval_tasks": r.tasks or None, "eval.lm_eval_include_path": r.include_path or None,
             "eval.heldout_text": r.heldout, "analysis.delta": r.delta, "runtime.threads": r.threads}
    for key, value in given.items():
        if value is not None:
            _put(data, key, value)
    data = apply_overrides(data, r.overrides)
    restore = data.setdefault("restore", {})
    if restore.get("data") is None and "restorers" not in restore:
        restore["restorers"] = [{"name": "interpolation", "ratio": 0.5}]
    ev = data.get("eval") or {}
    if ev.get("probes") is None:
        if not ev.get("lm_eval_tasks"):
            raise UserError("compare: give --probes FILE and/or --task NAME: something to score both models on")
        raise UserError("compare: lm-eval tasks alone are not supported yet: give --probes FILE too")
    return data, str(r.config) if r.config is not None else "compare", lines


def _put(data: dict, key: str, value) -> None:
    *path, last = key.split(".")
    node = data
    for p in path:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[last] = value


def conjugate_config(r: CompareRequest) -> dict:
    dtype = r.dtype or "fp32"
    return {"study": "conjugate", "name": f"compare {Path(r.base).name} -> {Path(r.tuned).name}",
            "base": {"path": r.base, "dtype": dtype}, "tuned": {"path": r.tuned, "dtype": dtype},
            **({"runtime": {"threads": r.threads}} if r.threads is not None else {}), **{s: {} for s in r.suites}}


def configs(r: CompareRequest) -> list[tuple[Study, BaseModel, str]]:
    """(study, validated config, sub-folder) for every study the comparison runs."""
    data, source, lines = trajectory_config(r)
    specs = [("trajectory", data, source, lines)]
    if r.suites:
        specs.append(("conjugate", conjugate_config(r), "compare (conjugate)", {}))
    out = []
    for name, data, source, lines in specs:
        study = STUDIES.get(name)
        out.append((study, validate_config(study.config, data, source, lines), name))
    return out
