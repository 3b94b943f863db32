"""Config of the unlearning study: a base, an oracle that never saw the forget set, unlearned models,
relearning attacks and prompt-side attacks, and the verdict's tolerance (docs/unlearning.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from forgetscope.config import StrictModel
from forgetscope.studies.common_config import MAX_BOOTSTRAP, MAX_SEED, AnalysisConfig, Seeds, SeedsRuntime, TinyBase
from forgetscope.training import TrainConfig
from forgetscope.world.config import WorldConfig

METHODS = ("ga", "graddiff", "npo", "idk")
ATTACKS = ("text", "forget_folds", "retain")


class ForgetConfig(StrictModel):
    """Who is forgotten: the first `people` of the world's evaluation people (the rest are retained)."""

    people: int = Field(20, ge=0, le=100_000, description="forget people (the first of the world's eval split); "
                        "their cloze items are the forget probe")
    folds: int = Field(2, ge=2, le=100, description="the forget people in this many parts: the forget_folds attack "
                       "relearns on all parts but one and probes that one, rotated over the parts")


class OracleConfig(StrictModel):
    """The control: a base pre-trained identically except that the forget people's biographies are left out."""

    path: str | None = Field(None, description="an oracle model folder to use instead of pre-training one "
                             "(it must have the world's tokenizer)")
    audit: bool = Field(True, description="also pre-train a second oracle (another init seed) and audit it like an "
                        "unlearned model: the calibration that should read 'removed'")


class MethodConfig(StrictModel):
    """One built-in unlearning method applied to the base (methods.py: the losses)."""

    name: Literal[METHODS] = Field(description="ga: gradient ascent on the forget text; graddiff: ga plus LM loss on "  # type: ignore[valid-type]
                                   "retain text; npo: negative preference optimization (Zhang et al. 2024); "
                                   "idk: tuned to answer 'sorry' about the forget people (refusal tuning)")
    label: str | None = Field(None, description="its name in tables (default: the method's name)")
    train: TrainConfig = Field(TrainConfig(steps=30, batch_size=16, lr=1e-3, max_length=64), description="the unlearning run")
    retain_weight: float = Field(0.0, ge=0, le=100, description="weight of the LM loss on retain text added to the "
                                 "forget loss (graddiff needs it above 0)")
    beta: float = Field(0.1, gt=0, le=100, description="npo: the inverse temperature β")

    @property
    def condition(self) -> str:
        return self.label or self.name

    @model_validator(mode="after")
    def _check(self) -> MethodConfig:
        if self.name == "graddiff" and self.retain_weight <= 0:
            raise ValueError("graddiff is gradient ascent plus retain loss: give retain_weight > 0")
        if self.train.grad_accum != 1 or self.train.lora is not None:
            raise ValueError("unlearning methods train all weights in one micro-batch per step (grad_accum 1, no lora)")
        return self


class RelearnConfig(StrictModel):
    """Relearning attacks: brief LM training, the same budget for every model and for the oracle (the control)."""

    attacks: list[Literal[ATTACKS]] = Field(  # type: ignore[valid-type]
        list(ATTACKS), min_length=1, description="text: the world's restoration text (no forget fact); forget_folds: "
        "biographies of the other forget parts; retain: biographies of the retain people")
    data: str = Field("world", description="the text attack's {'text'} rows: 'world' (restoration text) or a file")
    train: TrainConfig = Field(TrainConfig(steps=40, batch_size=16, lr=1e-3, max_length=64), description="the relearning budget")
    curve: list[Annotated[float, Field(gt=0, lt=1)]] = Field(
        [0.25, 0.5], description="extra points of the budget curve, as fractions of train.steps, each strictly between "
        "0 and 1 (the full budget is always probed)")

    def steps(self) -> list[int]:
        """The probed steps of every relearning run, the full budget last."""
        return sorted({max(1, round(f * self.train.steps)) for f in self.curve} | {self.train.steps})


class UnlearningAnalysis(AnalysisConfig):
    delta: float = Field(0.05, ge=0, lt=1, description="tolerance of the verdict: relearned forget score within δ of "
                         "the oracle's counts as no more (0.05 = 5 points)")
    n_bootstrap: int = Field(2000, ge=100, le=MAX_BOOTSTRAP, description="bootstrap resamples of items (one seed)")


class UnlearningConfig(StrictModel):
    study: Literal["unlearning"] = "unlearning"
    name: str = Field("unlearning", description="a label for reports")
    seeds: Seeds = Field([0, 1, 2, 3, 4], description="each seed: its own unlearning and relearning runs")
    base_seed: int | None = Field(0, ge=0, le=MAX_SEED, description="the seed of the world, base and oracle every seed "
                                  "shares (the intervals then cover unlearning and relearning); null: each seed its own")
    world: WorldConfig = WorldConfig()
    base: TinyBase = TinyBase()
    forget: ForgetConfig = ForgetConfig()
    oracle: OracleConfig = OracleConfig()
    methods: list[MethodConfig] = Field(
        default_factory=lambda: [MethodConfig(name="ga"), MethodConfig(name="graddiff", retain_weight=1.0),
                                 MethodConfig(name="npo", retain_weight=1.0), MethodConfig(name="idk", retain_weight=1.0)],
        description="the built-in unlearning methods, each applied to the base")
    relearn: RelearnConfig = RelearnConfig()
    conjugate: bool = Field(True, description="also probe the forget set in the world's L2 (a prompt-side attack)")
    eval_batch_size: int = Field(64, ge=1, le=65_536, description="probe items scored per forward batch")
    analysis: UnlearningAnalysis = UnlearningAnalysis()
    runtime: SeedsRuntime = SeedsRuntime()

    @model_validator(mode="after")
    def _consistent(self) -> UnlearningConfig:
        names = [m.condition for m in self.methods] + ["oracle"]
        if len(set(names)) != len(names):
            raise ValueError(f"methods need distinct labels, none 'oracle' ({', '.join(names[:-1])})")
        if self.conjugate and not self.world.second_language:
            raise ValueError("conjugate probes the world's L2: keep world.second_language true, or set conjugate false")
        return self

    @property
    def audited(self) -> list[str]:
        """The models the verdicts are about, in table order."""
        return (["oracle"] if self.oracle.audit else []) + [m.condition for m in self.methods]
