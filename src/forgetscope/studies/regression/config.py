"""Config of the regression study (Kotha et al., synthetic part): in-context linear regression,
pre-train on a discrete/continuous mixture, fine-tune on the discrete family, evaluate.

The defaults are the `demo` preset (CPU, minutes; configs/regression-demo.yaml); configs/regression-paper.yaml
is the `paper` preset (the paper's model size, for a GPU). docs/regression.md says why each default
was chosen.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from forgetscope.config import StrictModel
from forgetscope.studies.common_config import (
    AnalysisConfig,
    Seeds,
    SeedsRuntime,
    train_moves,
)
from forgetscope.training import CheckpointSchedule, TrainConfig
from forgetscope.training.config import MAX_BATCH, MAX_STEPS


class RegressionModelConfig(StrictModel):
    layers: int = Field(3, ge=1, le=256, description="transformer blocks")
    width: int = Field(64, ge=8, le=16_384, description="model width")
    heads: int = Field(4, ge=1, le=256, description="attention heads (width must divide by it)")
    mlp_ratio: int = Field(4, ge=1, le=16, description="MLP width = mlp_ratio x width")

    @model_validator(mode="after")
    def _heads_divide(self) -> RegressionModelConfig:
        if self.width % self.heads:
            raise ValueError(f"width ({self.width}) must be divisible by heads ({self.heads})")
        return self


class TaskConfig(StrictModel):
    """What generates a prompt: x ~ N(0, I_d), y = <w, x> + eps, eps ~ N(0, sigma^2)."""

    d: int = Field(3, ge=1, le=4096, description="dimension of x and w")
    k_max: int = Field(8, ge=1, le=4096, description="most in-context examples; a prompt has k_max + 1 points (every k from 0 to k_max)")
    n_discrete: int = Field(8, ge=1, le=1_000_000, description="N: size of the discrete family's fixed set of w (drawn once per seed from N(0, tau^2 I))")
    sigma: float = Field(0.5, gt=0, le=1e6, description="noise standard deviation of y")
    tau: float = Field(1.0, gt=0, le=1e6, description="prior standard deviation of w in the continuous family")
    alpha: float = Field(0.5, ge=0, le=1, description="pre-training mixture: probability that a prompt is from the discrete family")


class CurriculumConfig(StrictModel):
    """Garg et al.'s curriculum on active dimensions: x has only the first `start_dims` coordinates
    non-zero at first, one more every `every` steps, until all d."""

    start_dims: int = Field(2, ge=1, le=4096, description="active dimensions at step 0")
    every: int = Field(200, ge=1, le=MAX_STEPS, description="steps between increments of one dimension")

    def active_dims(self, step: int, d: int) -> int:
        return min(d, self.start_dims + step // self.every)


class BaseConfig(StrictModel):
    """The base model: pre-trained on the task mixture (a prompt is discrete with probability alpha)."""

    moved: ClassVar[dict[str, str]] = {**train_moves("base"), "pretrain": "base.train"}

    model: RegressionModelConfig = RegressionModelConfig(layers=2, width=64, heads=4)
    train: TrainConfig = Field(
        TrainConfig(steps=2500, batch_size=64, lr=1e-3, warmup_steps=50, lr_schedule="cosine", betas=(0.9, 0.999)),
        description="pre-training (fresh prompts every step)",
    )
    curriculum: CurriculumConfig | None = Field(CurriculumConfig(), description="curriculum on active dimensions; null = all dimensions from step 0")


class FinetuneConfig(StrictModel):
    """Fine-tuning on the discrete family only (fresh prompts every step)."""

    moved: ClassVar[dict[str, str]] = train_moves("finetune")

    train: TrainConfig = Field(TrainConfig(steps=400, batch_size=64, lr=1e-4, betas=(0.9, 0.999)), description="the fine-tuning run")
    checkpoints: CheckpointSchedule = CheckpointSchedule(count=5, first=10)


class EvalConfig(StrictModel):
    prompts: int = Field(1000, ge=10, le=1_000_000, description="evaluation prompts per family and seed (a fixed set per seed)")
    gammas: list[Annotated[float, Field(gt=0, le=1e6)]] = Field(
        [1.5, 2.0], min_length=1, max_length=100, description="conjugate prompting: feed (X, gamma y), divide the prediction by gamma; each > 0"
    )
    batch_size: int = Field(500, ge=1, le=MAX_BATCH, description="prompts per forward pass")


class RegressionAnalysis(AnalysisConfig):
    closeness_bins: int = Field(5, ge=2, le=20, description="quantile bins of closeness to the discrete set (per seed)")
    small_k: int = Field(2, ge=0, le=4096, description="'small k' for the recovery summary: k <= small_k (default: k < d, where a prompt cannot determine w)")


class RegressionConfig(StrictModel):
    moved: ClassVar[dict[str, str]] = {"model": "base.model", "pretrain": "base.train (its curriculum: base.curriculum)"}

    study: Literal["regression"] = "regression"
    name: str = Field("regression", description="a label for reports")
    seeds: Seeds = Field([0, 1, 2, 3, 4, 5, 6, 7], description="eight: the power design in docs/regression.md; each seed: its own discrete set, base, fine-tuning, eval set")
    task: TaskConfig = TaskConfig()
    base: BaseConfig = BaseConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    eval: EvalConfig = EvalConfig()
    analysis: RegressionAnalysis = RegressionAnalysis()
    runtime: SeedsRuntime = SeedsRuntime()

    @model_validator(mode="after")
    def _consistent(self) -> RegressionConfig:
        self.finetune.checkpoints.resolve(self.finetune.train.steps)
        if self.finetune.train.steps < 1:
            raise ValueError("finetune.train.steps must be at least 1")
        if self.analysis.small_k > self.task.k_max:
            raise ValueError(f"analysis.small_k ({self.analysis.small_k}) must be at most task.k_max ({self.task.k_max})")
        return self

    @property
    def n_points(self) -> int:
        return self.task.k_max + 1
