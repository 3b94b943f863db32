"""A recipe's fine-tuning stage, in place of the trajectory study's stage 3 when the recipe trains
differently (bottom blocks frozen, replay, a KL penalty to the base): the same data, schedule,
checkpoint folders and done record, so the trajectory's later stages read it as their own.

Full fine-tuning only (a LoRA recipe trains through the trajectory's stage). Resumes from its last
checkpoint as that stage does (training.checkpointed)."""

from __future__ import annotations

from pathlib import Path

from forgetscope.data import lm_texts
from forgetscope.errors import UserError
from forgetscope.models import save_model
from forgetscope.models.loading import load_weights_into
from forgetscope.studies.recipes.config import Recipe
from forgetscope.studies.stages import run_stage
from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.studies.trajectory.s3_model_finetune import finetune_batches
from forgetscope.training import LMBatches
from forgetscope.training.batches import ReplayBatches
from forgetscope.training.checkpointed import train_with_checkpoints
from forgetscope.training.regularizers import freeze_bottom_layers, kl_penalized_nll
from forgetscope.views import FINETUNE_STAGE


def finetune_recipe(ctx: SeedContext, recipe: Recipe) -> None:
    stage = ctx.stage(FINETUNE_STAGE)
    run_stage(stage, lambda _: _finetune(ctx, recipe, stage.path), together=True)


def recipe_batches(ctx: SeedContext, recipe: Recipe):
    """The fine-tuning batches, with `recipe.replay` of each taken from restore.data's text."""
    batches = finetune_batches(ctx)
    if not recipe.replay:
        return batches
    ref = ctx.cfg.restore.data
    label = ctx.label(ref, "restore.jsonl")
    try:
        replay = LMBatches(lm_texts(ctx.rows(ref, "restore.jsonl"), label), ctx.tokenizer, ctx.cfg.finetune.train.max_length, seed=ctx.seed)
    except ValueError as e:
        raise UserError(f"recipe {recipe.name}: replay: {label}: {e}") from None
    return ReplayBatches(batches, replay, recipe.replay)


def _finetune(ctx: SeedContext, recipe: Recipe, folder: Path) -> dict:
    train_cfg = ctx.cfg.finetune.train
    tok = ctx.tokenizer

    def start_model(checkpoint: Path | None):
        model = ctx.load(ctx.base_path)
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
        reference = ctx.load(ctx.base_path).eval().requires_grad_(False)
        extra["loss_fn"] = kl_penalized_nll(reference, recipe.kl_penalty)
    result, resumed = train_with_checkpoints(
        folder, start_model, recipe_batches(ctx, recipe), train_cfg, ctx.steps, seed=ctx.seed, reporter=ctx.reporter,
        save_checkpoint=lambda m, target, full_state: save_model(m, tok, target, replace=True, state_dict=full_state), **extra)
    return {"checkpoints": ctx.steps, "seconds": result.seconds, "tokens_per_second": result.tokens_per_second,
            "resumed_from": resumed, "processes": result.processes, "recipe": recipe.model_dump(mode="json")}
