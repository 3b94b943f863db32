"""Config sections every study shares: where the base model comes from, runtime, analysis."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, field_validator

from forgetscope.config import StrictModel
from forgetscope.hardware import usable_cores
from forgetscope.models import ModelSpec
from forgetscope.models.tiny import TinyModelConfig
from forgetscope.training import TrainConfig

WORLD = "world"


MAX_SEED = 2**32 - 1  # numpy's and torch's generators take seeds in [0, 2**32)
MAX_SEEDS = 1000
MAX_NEW_TOKENS = 4096  # tokens generated per prompt
MAX_BOOTSTRAP = 100_000  # bootstrap resamples
CORES = usable_cores()  # this machine's, as far as this process may use them
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
        "auto", description="seeds run in parallel processes; auto = the count that finishes the seeds soonest, "
        f"at most two per CPU core over `threads` (forgetscope.studies.common_config.seed_workers; given: at most {PER_CORE})"
    )
    cache_dir: str | None = Field(None, description="where pre-trained bases are cached (default: $FORGETSCOPE_CACHE or ~/.cache/forgetscope)")

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: int | str) -> int | str:
        return v if isinstance(v, str) else at_most_per_core(v, "workers")

    def resolved_workers(self, n_seeds: int) -> int:
        if self.workers == "auto":
            return seed_workers(n_seeds, CORES, self.threads)
        return max(1, self.workers)


def seed_workers(n_seeds: int, cores: int, threads: int = 1) -> int:
    """How many seed processes to run at once: the count that finishes `n_seeds` seeds of equal
    length soonest, by a processor-sharing model (a seed runs at full speed while at most
    `cores // threads` run, proportionally slower beyond), among 1 to twice that many (oversubscribing
    2:1 still raises throughput with tiny models, whose processes leave their core idle part of the
    time); ties go to more processes. Five seeds on two cores: 3 (the last two seeds run together),
    not 4 (the fifth would run alone on one core, the other idle)."""
    slots = max(1, cores // threads)
    best_span, best = float("inf"), 1
    for w in range(1, min(n_seeds, 2 * slots) + 1):
        rounds, left = divmod(n_seeds, w)
        span = rounds * max(1.0, w / slots) + (max(1.0, left / slots) if left else 0.0)
        if span <= best_span + 1e-9:
            best_span, best = min(span, best_span), w
    return best


class AnalysisConfig(StrictModel):
    """What every study's analysis shares; each study adds its own settings."""

    ci_level: float = Field(0.95, gt=0, lt=1, description="level of every confidence interval")


def train_moves(section: str) -> dict[str, str]:
    """Training settings written directly in a phase section (the old shape) -> `<section>.train.<key>`."""
    return {f: f"{section}.train.{f}" for f in TrainConfig.model_fields}
