"""Config sections every study shares: where the base model comes from, runtime, analysis."""

from __future__ import annotations

import os
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, field_validator

from forgetscope.config import StrictModel
from forgetscope.models import ModelSpec
from forgetscope.models.tiny import TinyModelConfig
from forgetscope.training import TrainConfig

WORLD = "world"


MAX_SEED = 2**32 - 1  # numpy's and torch's generators take seeds in [0, 2**32)
MAX_SEEDS = 1000
MAX_NEW_TOKENS = 4096  # tokens generated per prompt
MAX_BOOTSTRAP = 100_000  # bootstrap resamples
CORES = os.cpu_count() or 1
PER_CORE = 4  # threads or worker processes per CPU core, at most: more only thrashes (or exhausts memory)


def _distinct(seeds: list[int]) -> list[int]:
    if len(set(seeds)) != len(seeds):
        raise ValueError("seeds must be distinct")
    return seeds


Seeds = Annotated[list[Annotated[int, Field(ge=0, le=MAX_SEED)]], Field(min_length=1, max_length=MAX_SEEDS), AfterValidator(_distinct)]


def at_most_per_core(value: int, what: str) -> int:
    """A count of threads or processes: at most PER_CORE per CPU core of this machine."""
    if value > PER_CORE * CORES:
        raise ValueError(f"{what} {value} is more than {PER_CORE} per CPU core (this machine has {CORES})")
    return value


class TinyBase(StrictModel):
    """Pre-train a tiny Llama on the fact world's corpus. Cached by a hash of what generates it."""

    moved: ClassVar[dict[str, str]] = {"pretrain": "base.train"}

    kind: Literal["tiny"] = "tiny"
    model: TinyModelConfig = TinyModelConfig(layers=3, hidden=96, heads=4)
    train: TrainConfig = Field(
        TrainConfig(steps=800, batch_size=32, lr=1e-2, warmup_steps=30, lr_schedule="cosine", max_length=64),
        description="pre-training of the base on the world's corpus",
    )


BaseModelConfig = Annotated[TinyBase | ModelSpec, Field(discriminator="kind")]


class RuntimeConfig(StrictModel):
    """Where and how a study computes (never what it computes, except through float sums)."""

    threads: int = Field(1, ge=1, description="torch CPU threads per worker (part of the config: it can change float sums); "
                         f"at most {PER_CORE} per CPU core")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = cuda when available")
    report_to: list[Literal["tensorboard", "wandb", "trackio"]] = Field(
        [], description="trackers that get the training losses and each checkpoint's probe scores against step "
        "(trajectory study; forgetscope/tracking.py); none by default")

    @field_validator("threads")
    @classmethod
    def _threads(cls, v: int) -> int:
        return at_most_per_core(v, "threads")


class SeedsRuntime(RuntimeConfig):
    """The runtime of a study that runs its seeds in parallel processes and caches its synthetic bases."""

    workers: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto", description=f"seeds run in parallel processes; auto = one per seed, at most two per CPU core (given: at most {PER_CORE})"
    )
    cache_dir: str | None = Field(None, description="where pre-trained bases are cached (default: $FORGETSCOPE_CACHE or ~/.cache/forgetscope)")

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: int | str) -> int | str:
        return v if isinstance(v, str) else at_most_per_core(v, "workers")

    def resolved_workers(self, n_seeds: int) -> int:
        """Tiny models on one thread each: oversubscribing the cores 2:1 still raises throughput."""
        if self.workers == "auto":
            return max(1, min(n_seeds, 2 * (os.cpu_count() or 1)))
        return max(1, self.workers)


class AnalysisConfig(StrictModel):
    """What every study's analysis shares; each study adds its own settings."""

    ci_level: float = Field(0.95, gt=0, lt=1, description="level of every confidence interval")


def train_moves(section: str) -> dict[str, str]:
    """Training settings written directly in a phase section (the old shape) -> `<section>.train.<key>`."""
    return {f: f"{section}.train.{f}" for f in TrainConfig.model_fields}
