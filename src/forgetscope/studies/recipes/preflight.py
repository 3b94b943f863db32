"""What the recipes study checks before any compute: the trajectory study's checks of the first
recipe (the shared base, data and probes) and of every recipe that brings its own checkpoints."""

from __future__ import annotations

from forgetscope import preflight
from forgetscope.preflight import Check
from forgetscope.studies.recipes.config import TRAJECTORY, RecipesConfig


def check(cfg: RecipesConfig) -> float:
    """Every problem, one line each (the first recipe's stand for every recipe's shared inputs); the seconds they took."""
    chosen = [cfg.recipes[0], *[r for r in cfg.recipes[1:] if r.checkpoints_from is not None]]
    return preflight.run_checks([Check(f"recipes.{r.name}" if r.checkpoints_from is not None else "", lambda r=r: TRAJECTORY.preflight(cfg.trajectory_config(r))) for r in chosen])
