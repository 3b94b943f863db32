"""Stage 1 (recipes that train differently: bottom blocks frozen, replay, a KL penalty to the base):
fine-tune into the recipe's own trajectory run, as that run's fine-tuning stage (`3_finetune/`, its
checkpoint folders and done record), before the trajectory study runs there: it then finds the stage
done and probes, restores and analyses these checkpoints as its own. World, base and data come from
the first recipe's run (`source`); the schedule and training settings from the recipe's trajectory
config. Full fine-tuning only; resumes from its last checkpoint (training.checkpointed)."""

from __future__ import annotations

from pathlib import Path

from forgetscope.distributed import device_for
from forgetscope.errors import UserError
from forgetscope.execution import Reporter
from forgetscope.models import save_model
from forgetscope.models.loading import load_weights_into
from forgetscope.store import RunStore
from forgetscope.studies.recipes.config import Recipe, RecipesConfig
from forgetscope.studies.recipes.inputs import RecipeInputs
from forgetscope.studies.stages import run_stage
from forgetscope.training.batches import ReplayBatches
from forgetscope.training.checkpointed import train_with_checkpoints
from forgetscope.training.regularizers import freeze_bottom_layers, kl_penalized_nll
from forgetscope.views import FINETUNE_STAGE


def finetune_recipe(cfg: RecipesConfig, name: str, source: str, run_dir: str, seed: int, reporter: Reporter) -> int:
    recipe = cfg.recipe(name)
    stage = RunStore(run_dir).stage(FINETUNE_STAGE, seed)
    run_stage(stage, lambda _: _finetune(cfg, recipe, RecipeInputs(cfg, source, seed), stage.path, seed, reporter), together=True)
    return seed


def _finetune(cfg: RecipesConfig, recipe: Recipe, inputs: RecipeInputs, folder: Path, seed: int, reporter: Reporter) -> dict:
    tcfg = cfg.trajectory_config(recipe).finetune
    device = device_for(cfg.runtime.device)
    tok = inputs.tokenizer()
    steps = tcfg.checkpoints.resolve(tcfg.train.steps)
    batches = inputs.finetune_batches(tok, seed)
    if recipe.replay:
        batches = ReplayBatches(batches, inputs.replay_batches(tok, seed), recipe.replay)

    def start_model(checkpoint: Path | None):
        model = inputs.load(inputs.base_path, device)
        if checkpoint is not None:
            load_weights_into(model, checkpoint)
        if recipe.freeze_layers:
            try:
                freeze_bottom_layers(model, recipe.freeze_layers)
            except ValueError as e:
                raise UserError(f"recipe {recipe.name}: {e}") from None
        return model

    extra = {}
    if recipe.kl_penalty:
        extra["loss_fn"] = kl_penalized_nll(inputs.load(inputs.base_path, device).eval().requires_grad_(False), recipe.kl_penalty)
    result, resumed = train_with_checkpoints(
        folder, start_model, batches, tcfg.train, steps, seed=seed, reporter=reporter,
        save_checkpoint=lambda m, target, full_state: save_model(m, tok, target, replace=True, state_dict=full_state), **extra)
    return {"checkpoints": steps, "seconds": result.seconds, "tokens_per_second": result.tokens_per_second,
            "resumed_from": resumed, "processes": result.processes, "recipe": recipe.model_dump(mode="json")}
