"""What the recipes study checks before any compute: every recipe's trajectory inputs (the shared data
and probes once, each recipe's checkpoints_from)."""

from __future__ import annotations

from forgetscope import preflight
from forgetscope.preflight import Check
from forgetscope.studies.recipes.config import RecipesConfig
from forgetscope.studies.trajectory.preflight import checks as trajectory_checks


def check(cfg: RecipesConfig) -> float:
    """Run every check, each problem told once (the shared inputs are the same in every recipe); the seconds they took."""
    out: list[Check] = []
    for r in cfg.recipes:
        for c in trajectory_checks(cfg.trajectory_config(r)):
            named = f"recipes.{r.name}.{c.field}" if c.field.startswith("finetune.checkpoints_from") else c.field
            out.append(Check(named, c.run))
    return preflight.run_checks(out)
