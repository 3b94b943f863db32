"""The recipes study's summary.json (`forgetscope schema recipes`), built from the shared records."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from forgetscope.schema import Finding, Interval, Label, Num, Record


class RecipeInfo(Record):
    name: str = Field(description="the recipe's name")
    describe: str = Field(description="what it changes, in words")
    options: dict[str, Any] = Field(description="the recipe as configured")
    run: str = Field(description="its trajectory run folder, relative to this run's (a run compare-runs and report read)")


class RecipePoint(Record):
    recipe: str = Field(description="the recipe")
    step: int = Field(description="fine-tuning step of the checkpoint")
    target_gain: Num = Field(description="the target probe's score minus the base's (mean over seeds)")
    target_gain_ci: Interval = Field(description="interval at ci_level [lo, hi] of target_gain")
    forgetting: Num = Field(description="B - F_t on the primary probe")
    forgetting_ci: Interval = Field(description="interval at ci_level [lo, hi] of forgetting")
    pseudo: Num = Field(description="R_t - F_t: what restoration brings back")
    pseudo_ci: Interval = Field(description="interval at ci_level [lo, hi] of pseudo")
    actual: Num = Field(description="B - R_t: what it does not")
    actual_ci: Interval = Field(description="interval at ci_level [lo, hi] of actual")
    label: Label = Field(description="the trajectory study's label_ci of this checkpoint (docs/concepts.md)")
    forward_kl: Num = Field(description="KL(base || checkpoint) on the fine-tuning data, nats per trained token (mean over seeds)")
    forward_kl_ci: Interval = Field(description="interval at ci_level [lo, hi] of forward_kl (t over seeds)")
    frontier_actual: bool = Field(description="on its recipe's Pareto frontier of target gain (higher) against actual forgetting (lower)")
    frontier_pseudo: bool = Field(description="on its recipe's Pareto frontier of target gain against pseudo forgetting")


class InterpolationPoint(Record):
    recipe: str = Field(description="the recipe whose last checkpoint is interpolated toward the base")
    step: int = Field(description="that checkpoint's fine-tuning step")
    alpha: float = Field(description="theta_base + alpha (theta_checkpoint - theta_base): 0 is the base, 1 the checkpoint")
    target_gain: Num = Field(description="the target probe's score minus the base's (mean over seeds)")
    target_gain_ci: Interval = Field(description="t-interval over seeds at ci_level [lo, hi] of target_gain (null with one seed)")
    forgetting: Num = Field(description="B - F(alpha) on the primary probe (mean over seeds); not restored: no pseudo/actual split")
    forgetting_ci: Interval = Field(description="t-interval over seeds at ci_level [lo, hi] of forgetting (null with one seed)")


class KLCorrelation(Record):
    against: str = Field(description="the measured quantity forward_kl is ranked against")
    spearman: Num = Field(description="Spearman rank correlation over every recipe and checkpoint (seed means)")
    ci: Interval = Field(description="at ci_level [lo, hi]: the hull of the interval over the points (Fisher's z, Bonett-Wright "
                         "variance) and the t-interval over seeds from the delete-one-seed jackknife, clipped to [-1, 1]; "
                         "null with fewer than 3 seeds or 4 points")
    n_points: int = Field(description="recipe x checkpoint points")
    n_seeds: int = Field(description="seeds the jackknife leaves out one at a time")


class RecipesSummary(Record):
    study: Literal["recipes"] = Field("recipes", description="the study that wrote this summary")
    schema_version: Literal[2] = Field(2, description="the version of this layout (2: interpolation, kl_correlation.n_seeds, "
                                       "its interval over points and seeds)")
    name: str = Field(description="the config's name")
    probe: str = Field(description="the primary probe whose forgetting is decomposed (analysis.primary_probe)")
    target_probe: str = Field(description="the fine-tuning task's probe (analysis.target_probe)")
    restorer: str = Field(description="the restorer whose numbers these are (restore.restorers[0])")
    delta: float = Field(description="tolerance of the stage rule")
    ci_level: float = Field(description="level of every interval (analysis.ci_level)")
    seeds: list[int] = Field(description="the seeds every recipe ran; numbers are means over them")
    recipes: list[RecipeInfo] = Field(description="in config order")
    points: list[RecipePoint] = Field(description="one per recipe and checkpoint")
    interpolation: list[InterpolationPoint] = Field(description="the weight-interpolation sweep (config interpolation): one per "
                                                    "swept recipe and alpha; empty without alphas")
    kl_correlation: KLCorrelation = Field(description="does the cheap forward KL rank the checkpoints as the measured forgetting does?")
    findings: list[Finding] = Field(description="the literature's claims, each decided by its interval")
    forgetscope_version: str = Field(description="the forgetscope version that wrote it")
