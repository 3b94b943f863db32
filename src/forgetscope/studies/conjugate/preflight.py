"""What the conjugate study checks before any compute (forgetscope.preflight): the trajectory config
its fact world is built from (`fact_world.build`): a trajectory config on a tiny base, validated like
any config, with its model folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from forgetscope import preflight
from forgetscope.errors import UserError
from forgetscope.preflight import Check
from forgetscope.studies.conjugate.config import ConjugateConfig

if TYPE_CHECKING:
    from forgetscope.studies.registry import Study


def _build_config(path: str) -> tuple[Study, BaseModel]:
    from forgetscope.studies.registry import load_config

    study, tcfg = load_config(Path(path))
    if study.name != "trajectory":
        raise UserError(f"{path}: not a trajectory config (study {study.name!r})")
    if tcfg.base.kind != "tiny":
        raise UserError(f"{path}: a trajectory run on a pretrained base has no fact world; fact_world needs a tiny base")
    preflight.check_model_folders(tcfg)
    return study, tcfg


def checks(cfg: ConjugateConfig, keep: Callable[[tuple[Study, BaseModel]], object] = lambda _: None) -> list[Check]:
    """`keep` receives the trajectory config `fact_world.build` as its check loaded it."""
    fw = cfg.fact_world
    if fw is None or fw.build is None:
        return []
    return [Check("fact_world.build", lambda: keep(_build_config(fw.build)))]


def check(cfg: ConjugateConfig) -> float:
    """Every check above; the seconds they took."""
    return preflight.run_checks(checks(cfg))


def checked_build(cfg: ConjugateConfig) -> tuple[Study, BaseModel] | None:
    """Every check above, as `check` runs them, and the (study, config) of `fact_world.build` that its
    check loaded (None when there is none): what the study builds its trajectory run from, so the file
    is read and validated once per run."""
    kept: list[tuple[Study, BaseModel]] = []
    preflight.run_checks(checks(cfg, kept.append))
    return kept[0] if kept else None
