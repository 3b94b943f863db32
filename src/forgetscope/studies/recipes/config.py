"""Config of the recipes study: variations of one fine-tuning, each run as a trajectory over the same
seeds, data, probes and base, compared on target gain against pseudo and actual forgetting.

The shared sections (world, base, finetune, restore, eval, runtime) are the trajectory study's; each
recipe changes only what it names. `trajectory_config(recipe)` is the trajectory config a recipe runs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from forgetscope.config import StrictModel
from forgetscope.models.checkpoints_from import CheckpointsFrom
from forgetscope.studies.common_config import MAX_SEED, BaseModelConfig, Seeds, SeedsRuntime, TinyBase
from forgetscope.studies.registry import STUDIES
from forgetscope.training import CheckpointSchedule, LoraSettings
from forgetscope.training.config import MAX_STEPS
from forgetscope.world.config import WorldConfig

# Each recipe runs as a trajectory study, met through its record (studies meet only through the
# registry and the run store): its config, and the sections of it every recipe shares.
TRAJECTORY = STUDIES.get("trajectory")
TrajectoryConfig = TRAJECTORY.config
_sections = TrajectoryConfig.model_fields
FinetuneConfig, RestoreConfig, EvalConfig, TrajectoryAnalysis = (
    _sections[k].annotation for k in ("finetune", "restore", "eval", "analysis"))


class Recipe(StrictModel):
    """One variation of the shared fine-tuning (`finetune`); what it does not name stays as there."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="its label and its run folder (recipes/<name>)")
    lr: float | None = Field(None, gt=0, description="finetune.train.lr for this recipe")
    steps: int | None = Field(None, ge=1, le=MAX_STEPS, description="finetune.train.steps for this recipe (its length)")
    checkpoints: CheckpointSchedule | None = Field(None, description="finetune.checkpoints for this recipe")
    lora: LoraSettings | None = Field(None, description="train a LoRA adapter of this rank instead of all weights")
    freeze_layers: int = Field(0, ge=0, le=4096, description="the bottom k transformer blocks get no gradient")
    replay: float = Field(0.0, ge=0, lt=1, description="share of every batch taken from restore.data's text (replay of "
                          "pre-training-like text that holds no probed fact)")
    kl_penalty: float = Field(0.0, ge=0, le=1e4, description="beta of a KL(base || model) penalty per trained token, added to the NLL")
    checkpoints_from: CheckpointsFrom | None = Field(
        None, description="study checkpoints trained elsewhere (a TRL/Trainer output folder, ...) instead of training "
        "(docs/bring-your-own.md); needs a pretrained base")

    @model_validator(mode="after")
    def _coherent(self) -> Recipe:
        trains = self.lora is not None or self.trains_differently or self.lr is not None or self.steps is not None
        if self.checkpoints_from is not None and trains:
            raise ValueError(f"recipe {self.name}: checkpoints_from studies checkpoints trained elsewhere; it takes no training option")
        if self.lora is not None and self.trains_differently:
            raise ValueError(f"recipe {self.name}: freeze_layers, replay and kl_penalty are options of full fine-tuning here, not of LoRA")
        return self

    @property
    def trains_differently(self) -> bool:
        """Whether it needs the recipes' own fine-tuning stage (else the trajectory study's)."""
        return bool(self.freeze_layers or self.replay or self.kl_penalty)

    def describe(self) -> str:
        parts = []
        if self.checkpoints_from is not None:
            return "checkpoints trained elsewhere"
        parts.append(f"LoRA r={self.lora.r}" if self.lora is not None else "full fine-tuning")
        parts += [f"bottom {self.freeze_layers} blocks frozen"] if self.freeze_layers else []
        parts += [f"{100 * self.replay:g}% replay"] if self.replay else []
        parts += [f"KL penalty {self.kl_penalty:g}"] if self.kl_penalty else []
        parts += [f"lr {self.lr:g}"] if self.lr is not None else []
        parts += [f"{self.steps} steps"] if self.steps is not None else []
        return ", ".join(parts)


class RecipesAnalysis(TrajectoryAnalysis):
    target_probe: str = Field("qa_l1", description="the fine-tuning task's own probe: its gain over the base is the target gain")
    reference: str = Field("full", description="the recipe the findings compare LoRA and replay against (full fine-tuning)")
    kl_examples: int = Field(64, ge=1, le=100_000, description="fine-tuning examples the forward KL to the base is measured on")


class InterpolationSweep(StrictModel):
    """Post-hoc weight interpolation (WiSE-FT; Lin et al. 2024) swept as its own curve:
    theta(alpha) = theta_base + alpha (theta_checkpoint - theta_base) on a recipe's last checkpoint, probed
    as the checkpoints are (target gain and forgetting; not restored)."""

    alphas: list[Annotated[float, Field(ge=0, le=1)]] = Field([], max_length=64, description="the alphas (0 = the base, 1 = the last checkpoint); "
                                "empty: no sweep")
    recipes: list[str] | None = Field(None, description="the recipes whose last checkpoint is swept (null: every recipe)")

    @model_validator(mode="after")
    def _alphas(self) -> InterpolationSweep:
        if any(b <= a for a, b in zip(self.alphas, self.alphas[1:])):
            raise ValueError("interpolation.alphas: each alpha once, in increasing order")
        return self


class RecipesConfig(StrictModel):
    study: Literal["recipes"] = "recipes"
    name: str = Field("recipes", description="a label for reports")
    seeds: Seeds = Field([0, 1, 2], description="every recipe runs every seed (its own fine-tuning and restoration)")
    base_seed: int | None = Field(0, ge=0, le=MAX_SEED, description="the seed of the fact world and tiny base every recipe and seed "
                                  "shares (null: each seed its own; a pretrained base: null)")
    world: WorldConfig = WorldConfig()
    base: BaseModelConfig = TinyBase()
    finetune: FinetuneConfig = Field(FinetuneConfig(), description="the fine-tuning every recipe varies")
    restore: RestoreConfig = Field(RestoreConfig(restorers=["lm_training"]), description="restoration, the same for every recipe")
    eval: EvalConfig = EvalConfig()
    analysis: RecipesAnalysis = RecipesAnalysis()
    runtime: SeedsRuntime = SeedsRuntime()
    recipes: list[Recipe] = Field(..., min_length=1, description="the variations, in the order tables and plots show them")
    interpolation: InterpolationSweep = Field(InterpolationSweep(), description="weight interpolation of the last checkpoint "
                                              "toward the base, swept over alphas")

    @model_validator(mode="after")
    def _recipes(self) -> RecipesConfig:
        names = [r.name for r in self.recipes]
        if all(r.trains_differently for r in self.recipes):
            raise ValueError("list one recipe that trains as the trajectory study does (full or LoRA): the recipes that "
                             "freeze, replay or penalise take its world and base")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"recipe names must be distinct ({', '.join(twice)} twice)")
        unknown = sorted(set(self.interpolation.recipes or []) - set(names))
        if unknown:
            raise ValueError(f"interpolation.recipes: no recipe named {', '.join(unknown)} (recipes: {', '.join(names)})")
        if any(r.replay for r in self.recipes) and self.restore.data is None:
            raise ValueError("a replay recipe replays restore.data's text: give restore.data")
        for r in self.recipes:
            try:
                self.trajectory_config(r)
            except ValueError as e:
                raise ValueError(f"recipe {r.name}: {_first_error(e)}") from None
        return self

    @property
    def swept(self) -> list[Recipe]:
        """The recipes whose last checkpoint the interpolation sweep probes (none without alphas)."""
        if not self.interpolation.alphas:
            return []
        names = self.interpolation.recipes
        return [r for r in self.recipes if names is None or r.name in names]

    def recipe(self, name: str) -> Recipe:
        return next(r for r in self.recipes if r.name == name)

    @property
    def run_order(self) -> list[Recipe]:
        """Recipes that train as the trajectory study does (or bring checkpoints) first: the first of
        them gives the others that train differently their world and base."""
        return sorted(self.recipes, key=lambda r: r.trains_differently)

    def trajectory_config(self, recipe: Recipe):
        """The trajectory config this recipe runs: the shared sections with the recipe's changes."""
        data = self.model_dump(mode="json", include={"seeds", "base_seed", "world", "base", "finetune", "restore", "eval", "runtime"})
        ft, train = data["finetune"], data["finetune"]["train"]
        for key, value in (("lr", recipe.lr), ("steps", recipe.steps)):
            if value is not None:
                train[key] = value
        if recipe.lora is not None:
            train["lora"] = recipe.lora.model_dump(mode="json")
        if recipe.checkpoints is not None:
            ft["checkpoints"] = recipe.checkpoints.model_dump(mode="json", exclude_unset=True)
        if recipe.checkpoints_from is not None:
            ft["checkpoints_from"] = recipe.checkpoints_from if isinstance(recipe.checkpoints_from, str) else _dump(recipe.checkpoints_from)
        data["analysis"] = self.analysis.model_dump(mode="json", include=set(TrajectoryAnalysis.model_fields))
        return TrajectoryConfig.model_validate({"study": "trajectory", "name": recipe.name, **data})


def _dump(value):
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def _first_error(e: ValueError) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        err = errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where + ': ' if where else ''}{err['msg'].removeprefix('Value error, ')}"
    return str(e)
