"""Training configs: what every training stage (pre-training, fine-tuning, restoration) shares."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from forgetscope.config import StrictModel

MAX_STEPS = 10_000_000  # optimizer steps of one training phase
MAX_BATCH = 65_536  # sequences (or prompts) per step
MAX_CHECKPOINTS = 10_000


class LoraSettings(StrictModel):
    """Train a LoRA adapter (peft) instead of all weights."""

    r: int = Field(16, ge=1, le=4096, description="adapter rank")
    alpha: int = Field(32, ge=1, le=1_000_000, description="scaling numerator (scale = alpha / r)")
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = Field("all-linear", description="modules to adapt")
    save: Literal["adapter", "merged"] = Field(
        "adapter", description="checkpoints as adapter folders (small) or merged full models"
    )
    evaluate: Literal["merged", "adapter"] = Field(
        "merged", description="probe adapter checkpoints merged into the base (faster) or as base + adapter (peft)"
    )


class TrainConfig(StrictModel):
    steps: int = Field(..., ge=0, le=MAX_STEPS, description="optimizer steps")
    batch_size: int = Field(32, ge=1, le=MAX_BATCH, description="sequences per optimizer step (global, over all processes)")
    lr: float = Field(1e-3, gt=0, description="peak learning rate (AdamW); too high shows as a non-finite loss, which stops the run")
    lr_schedule: Literal["constant", "cosine", "linear"] = Field("constant", description="after warm-up")
    warmup_steps: int = Field(0, ge=0, le=MAX_STEPS, description="linear warm-up (longer than `steps`: the peak is never reached)")
    weight_decay: float = Field(0.0, ge=0, le=10)
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = Field((0.9, 0.95), description="AdamW betas, each in [0, 1)")
    grad_clip: float | None = Field(1.0, gt=0, le=1e6, description="max gradient norm; null = no clipping")
    max_length: int = Field(128, ge=8, le=131_072, description="tokens per sequence (packing length for LM training)")
    grad_accum: int = Field(1, ge=1, le=MAX_BATCH, description="micro-batches per step; batch_size must divide by it")
    lora: LoraSettings | None = Field(None, description="train a LoRA adapter instead of all weights")
    freeze_embeddings: bool = Field(
        False, description="keep the token embedding matrix fixed (and the output layer, when tied to it), as LoRA does; "
        "the demo sets it for the fact world (docs/fact-world.md, embedding drift)",
    )
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = Field(
        "auto", description="auto = bf16 autocast (fp32 master weights) for models of 20M+ parameters on a GPU with "
        "bf16 or a CPU measured to run bf16 matmuls fast, else fp32 (no); bf16 forces it; fp16: GPU only (forgetscope/precision.py)"
    )

    @model_validator(mode="after")
    def _accum_divides(self) -> TrainConfig:
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size ({self.batch_size}) must be divisible by grad_accum ({self.grad_accum})")
        return self


class CheckpointSchedule(StrictModel):
    """When fine-tuning keeps a checkpoint: log-spaced (the default) or an explicit list of steps."""

    count: int = Field(8, ge=1, le=MAX_CHECKPOINTS, description="log-spaced checkpoints between `first` and the last step (when given: at most the steps)")
    first: int = Field(10, ge=1, le=MAX_STEPS, description="the first log-spaced checkpoint")
    steps: list[Annotated[int, Field(le=MAX_STEPS)]] | None = Field(None, max_length=MAX_CHECKPOINTS, description="explicit steps; overrides count/first")

    def resolve(self, total_steps: int) -> list[int]:
        # a count other than the default asks for that many (by value, not by the fields a file names:
        # a run's config.yaml writes the default out, and must resolve as the config it came from did)
        asked = self.count != type(self).model_fields["count"].default
        if self.steps is None and asked and 1 <= total_steps < self.count:
            raise ValueError(f"checkpoints.count ({self.count}) is more than the training steps ({total_steps})")
        if self.steps is not None:
            bad = [s for s in self.steps if s < 1 or s > total_steps]
            if bad:
                raise ValueError(f"checkpoint steps {bad} outside 1..{total_steps}")
            return sorted(set(self.steps))
        return log_spaced(self.first, total_steps, self.count)


def log_spaced(first: int, last: int, count: int) -> list[int]:
    """`count` distinct integer steps from `first` to `last`, evenly spaced in log scale."""
    if last < 1:
        return []
    first = min(first, last)
    if count == 1 or first == last:
        return [last]
    ratio = (last / first) ** (1 / (count - 1))
    steps = sorted({min(last, round(first * ratio**i)) for i in range(count)} | {last})
    return steps


