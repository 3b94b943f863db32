"""Restoration by LM training: the same budget for every checkpoint and for the base (the control)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, model_validator

from forgetscope.config import StrictModel
from forgetscope.distributed import launched
from forgetscope.restoration.base import RestoreJob, Restorer
from forgetscope.training.config import TrainConfig

if TYPE_CHECKING:
    from forgetscope.training.loop import TrainResult


class _After:
    """The batches of `batches` that follow its first `offset` steps: a continued run trains on new
    blocks, not on the ones the first run saw (the batch of a step depends only on the seed)."""

    def __init__(self, batches, offset: int):
        self.batches, self.offset = batches, offset

    def global_indices(self, step: int, batch_size: int) -> list[int]:
        return self.batches.global_indices(step + self.offset, batch_size)

    def collate(self, indices):
        return self.batches.collate(indices)

    def label_tokens(self, indices) -> int:
        return self.batches.label_tokens(indices)


def restore_by_lm_training(
    model, tokenizer, texts: Sequence[str], cfg: TrainConfig, *, seed: int,
    on_step: Callable[[int, Any], None] | None = None, after_steps: int = 0,
) -> tuple[object, TrainResult]:
    """Train `model` on `texts` for `cfg.steps` steps (all weights, or a fresh LoRA adapter when
    `cfg.lora` is set); returns the restored model. The batch order depends only on the seed, so
    every checkpoint sees exactly the same restoration data. Under a launcher it trains in this
    process alone: restorations are independent units that the group's processes share out.
    `after_steps`: continue a run that trained that many steps (on the batches that follow them)."""
    from forgetscope.training import LMBatches, train  # torch: imported to restore, not to read a config
    from forgetscope.training.loop import wrap_lora

    batches = LMBatches(texts, tokenizer, cfg.max_length, seed=seed)
    if after_steps:
        batches = _After(batches, after_steps)
    if cfg.lora is not None and not after_steps:
        model = wrap_lora(model, cfg, seed)
    device = next(model.parameters()).device
    result = train(model, batches, cfg, seed=seed, on_step=on_step, local=launched(), device=device)
    return model, result


class LMTrainingRestorer(Restorer):
    """Condition `restored` (budget 1) or `restored-x<budget>`: LM training on the restoration text
    with the study's budget (`restore.train`) times `budget`. Restorers of this kind with a larger
    budget tell whether restoration had run its course (docs/concepts.md, "Restoration that has run
    its course"); `curve` probes the model part of the way through; `continues` makes such a larger
    budget a continuation of the budget-1 run instead of a run of its own."""

    name = "lm_training"

    class Options(StrictModel):
        budget: float = Field(1.0, gt=0, le=16, description="multiple of restore.train.steps (warm-up scales with it)")
        curve: list[Annotated[float, Field(gt=0, lt=1)]] = Field(
            [], description="fractions of the budget at which the curve probes are scored during restoration")
        continues: bool = Field(
            False, description="continue the budget-1 restorer of this kind where it ended (the same unit, the model in "
            "memory): (budget − 1) × restore.train.steps more steps on the batches that follow, with a schedule of their own "
            "(restore.train's, over those steps), instead of restoring the checkpoint again from the start; costs "
            "budget − 1 budgets instead of budget")

        @model_validator(mode="after")
        def _continues_a_shorter_run(self):
            if self.continues and self.budget <= 1:
                raise ValueError("continues: the budget must be larger than 1 (it continues the budget-1 run)")
            if self.continues and self.curve:
                raise ValueError("continues: a continued run has no curve of its own (give the curve to the budget-1 restorer)")
            return self

    @property
    def budget(self) -> float:
        return self.options.budget

    @property
    def condition(self) -> str:
        return "restored" if self.budget == 1 else f"restored-x{self.budget:g}"

    @property
    def title(self) -> str:
        return "LM training" if self.budget == 1 else f"LM training, {self.budget:g}× budget"

    def describe(self) -> str:
        what = "the same budget for every checkpoint and the base" if self.budget == 1 else \
            f"{self.budget:g} times the budget of restore.train, for every checkpoint and the base"
        if self.continues:
            what += f"; the budget-1 run continued for {self.budget - 1:g} more, with a schedule of its own"
        return f"LM training on restoration text ({what})"

    def train_config(self, train: TrainConfig) -> TrainConfig:
        if self.budget == 1:
            return train
        return train.model_copy(update={"steps": max(1, round(train.steps * self.budget)),
                                        "warmup_steps": round(train.warmup_steps * self.budget)})

    @property
    def continues(self) -> bool:
        return self.options.continues

    def continue_restoration(self, model, job: RestoreJob):
        """Go on from the budget-1 restoration of `model` (restored in memory, not saved): (budget − 1)
        budgets more, with restore.train's schedule stretched over them."""
        first = job.train.steps
        more = job.train.model_copy(update={"steps": max(1, round(first * (self.budget - 1))),
                                            "warmup_steps": round(job.train.warmup_steps * (self.budget - 1))})
        model, _ = restore_by_lm_training(model, job.tokenizer, job.texts(), more, seed=job.seed, after_steps=first)
        return model

    def restore(self, model, job: RestoreJob):
        cfg = self.train_config(job.train)
        at = {max(1, round(f * cfg.steps)): f for f in self.options.curve} if job.curve is not None else {}

        def on_step(step: int, loss) -> None:  # loss: a 0-d tensor, not read here
            if step in at:
                job.curve(model, at[step], step)

        model, _ = restore_by_lm_training(model, job.tokenizer, job.texts(), cfg, seed=job.seed, on_step=on_step if at else None)
        return model
