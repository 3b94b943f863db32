"""Config of the conjugate study (Kotha et al., real-LM part): a base and a fine-tuned model on
capability suites under prompt transforms; accuracy per transform, the drop, and the share of the
drop a transform recovers. docs/conjugate.md describes every suite and transform."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from forgetscope.config import StrictModel
from forgetscope.models import ModelSpec
from forgetscope.studies.common_config import MAX_BOOTSTRAP, AnalysisConfig, RuntimeConfig, Seeds
from forgetscope.suites.base import TransformSpec
from forgetscope.training.config import MAX_BATCH
from forgetscope.suites.fact_world import FactWorldConfig
from forgetscope.suites.icl_if import IclIfConfig
from forgetscope.suites.reasoning import ReasoningConfig
from forgetscope.suites.refusal import RefusalConfig

MODEL_SUITES = ("icl_if", "reasoning", "refusal")


class ConjugateEval(StrictModel):
    batch_size: int = Field(32, ge=1, le=MAX_BATCH, description="prompts per forward pass / generation batch")
    mixed_precision: Literal["auto", "no", "bf16"] = Field(
        "auto", description="scoring's forward passes: auto = bf16 autocast for models of 20M+ parameters on a GPU "
        "with bf16 or a CPU measured to run bf16 matmuls fast, else fp32 (no); bf16 forces it (forgetscope/precision.py)"
    )


class ConjugateAnalysis(AnalysisConfig):
    n_bootstrap: int = Field(2000, ge=100, le=MAX_BOOTSTRAP, description="bootstrap resamples of prompts (paired across models and transforms)")
    min_drop: float = Field(0.02, ge=0, lt=1, description="the recovered share is reported only when the identity drop exceeds this")


class ConjugateConfig(StrictModel):
    moved: ClassVar[dict[str, str]] = {"seed": "seeds (a list: seeds: [0])"}

    study: Literal["conjugate"] = "conjugate"
    name: str = Field("conjugate", description="a label for reports")
    seeds: Seeds | None = Field(
        None,
        description="model suites: the seed of the ICL prompt draw and the bootstrap (one seed; default 0); "
        "fact world: which seeds of the trajectory run to use (default: all of them)",
    )
    base: ModelSpec | None = Field(None, description="the model before fine-tuning (optional: without it, accuracies only, no drops)")
    tuned: ModelSpec | None = Field(None, description="the fine-tuned model (needed by icl_if, reasoning, refusal)")
    transforms: list[TransformSpec] = Field(
        default_factory=lambda: [TransformSpec(name=n) for n in ("identity", "leetspeak", "piglatin")],
        description="transforms of the model suites; the first must be identity (the reference of drops)",
    )
    icl_if: IclIfConfig | None = Field(None, description="ICL vs instruction following")
    reasoning: ReasoningConfig | None = Field(None, description="XNLI-style reasoning")
    refusal: RefusalConfig | None = Field(None, description="refusal rate on user prompts")
    fact_world: FactWorldConfig | None = Field(None, description="the fact world's models (from a trajectory run)")
    eval: ConjugateEval = ConjugateEval()
    analysis: ConjugateAnalysis = ConjugateAnalysis()
    runtime: RuntimeConfig = RuntimeConfig()

    @model_validator(mode="after")
    def _consistent(self) -> ConjugateConfig:
        suites = self.model_suites
        if not suites and self.fact_world is None:
            raise ValueError("name at least one suite: icl_if, reasoning, refusal or fact_world")
        if suites and self.seeds is not None and len(self.seeds) > 1:
            raise ValueError(f"seeds: the model suites draw one prompt set, give one seed (got {self.seeds})")
        if suites and self.tuned is None:
            raise ValueError(f"suite {suites[0]!r} needs 'tuned' (the fine-tuned model)")
        for name in suites:
            specs = self.transforms_of(name)
            if not specs or specs[0].name != "identity":
                raise ValueError(f"{name}: the first transform must be identity (the reference of drops)")
            if len({s.key for s in specs}) != len(specs):
                raise ValueError(f"{name}: a transform is listed twice")
        return self

    @property
    def seed(self) -> int:
        """The model suites' seed."""
        return self.seeds[0] if self.seeds else 0

    @property
    def models(self) -> dict[str, ModelSpec]:
        """The configured models by role (base, tuned)."""
        return {k: m for k, m in (("base", self.base), ("tuned", self.tuned)) if m is not None}

    @property
    def model_suites(self) -> list[str]:
        return [n for n in MODEL_SUITES if getattr(self, n) is not None]

    def transforms_of(self, suite: str) -> list[TransformSpec]:
        own = getattr(self, suite).transforms
        return own if own is not None else self.transforms
