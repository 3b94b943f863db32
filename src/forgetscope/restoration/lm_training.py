"""Restoration by LM training: the same budget for every checkpoint and for the base (the control)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from forgetscope.distributed import launched
from forgetscope.restoration.base import RestoreJob, Restorer
from forgetscope.training import LMBatches, TrainConfig, TrainResult, train
from forgetscope.training.loop import wrap_lora


def restore_by_lm_training(
    model, tokenizer, texts: Sequence[str], cfg: TrainConfig, *, seed: int,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[object, TrainResult]:
    """Train `model` on `texts` for `cfg.steps` steps (all weights, or a fresh LoRA adapter when
    `cfg.lora` is set); returns the restored model. The batch order depends only on the seed, so
    every checkpoint sees exactly the same restoration data. Under a launcher it trains in this
    process alone: restorations are independent units that the group's processes share out."""
    batches = LMBatches(texts, tokenizer, cfg.max_length, seed=seed)
    if cfg.lora is not None:
        model = wrap_lora(model, cfg, seed)
    device = next(model.parameters()).device
    result = train(model, batches, cfg, seed=seed, on_step=on_step, local=launched(), device=device)
    return model, result


class LMTrainingRestorer(Restorer):
    """Condition `restored`: LM training on the restoration text with the study's budget."""

    name = "lm_training"

    @property
    def condition(self) -> str:
        return "restored"

    @property
    def title(self) -> str:
        return "LM training"

    def describe(self) -> str:
        return "LM training on restoration text (restore.train: the same budget for every checkpoint and the base)"

    def restore(self, model, job: RestoreJob):
        model, _ = restore_by_lm_training(model, job.tokenizer, job.texts(), job.train, seed=job.seed)
        return model
