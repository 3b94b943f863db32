"""What the conjugate study checks before any compute (forgetscope.preflight): the trajectory config
its fact world is built from (`fact_world.build`): a trajectory config on a tiny base, validated like
any config, with its model folders."""

from __future__ import annotations

from pathlib import Path

from forgetscope import preflight
from forgetscope.errors import UserError
from forgetscope.preflight import Check
from forgetscope.studies.conjugate.config import ConjugateConfig


def _build_config(path: str) -> None:
    from forgetscope.studies.registry import load_config

    study, tcfg = load_config(Path(path))
    if study.name != "trajectory":
        raise UserError(f"{path}: not a trajectory config (study {study.name!r})")
    if tcfg.base.kind != "tiny":
        raise UserError(f"{path}: a trajectory run on a pretrained base has no fact world; fact_world needs a tiny base")
    preflight.check_model_folders(tcfg)


def checks(cfg: ConjugateConfig) -> list[Check]:
    fw = cfg.fact_world
    if fw is None or fw.build is None:
        return []
    return [Check("fact_world.build", lambda: _build_config(fw.build))]


def check(cfg: ConjugateConfig) -> float:
    """Every check above; the seconds they took."""
    return preflight.run_checks(checks(cfg))
