"""Config of the trajectory study (Zhang et al.): fine-tune with checkpoints, probe, restore, probe."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from forgetscope.config import StrictModel
from forgetscope.data import DataSource
from forgetscope.evaluation.lm_eval_tasks import LmEvalTask
from forgetscope.models.checkpoints_from import CheckpointsFrom
from forgetscope.restoration import RestorerSpec
from forgetscope.studies.common_config import (
    WORLD,
    AnalysisConfig,
    BaseModelConfig,
    Seeds,
    SeedsRuntime,
    TinyBase,
    train_moves,
)
from forgetscope.studies.common_config import MAX_BOOTSTRAP, MAX_NEW_TOKENS, MAX_SEED
from forgetscope.training import CheckpointSchedule, TrainConfig
from forgetscope.training.config import MAX_BATCH
from forgetscope.world.config import WorldConfig


DataRef = str | DataSource  # 'world', a file, or {path, name, split, data_files, streaming, max_rows} (data/sources.py)


class FinetuneConfig(StrictModel):
    """Fine-tuning: SFT on `messages` or `prompt`/`completion` rows, or LM training on `text` rows
    (continued pre-training, packed); or none at all: `checkpoints_from` names checkpoints you have."""

    moved: ClassVar[dict[str, str]] = train_moves("finetune")

    data: DataRef = Field(WORLD, description="'world' (the fact world's instruction data), a data file, or a datasets source")
    loss: Literal["completion", "assistant", "all"] = Field(
        "completion", description="SFT tokens in the loss: the completion / last assistant turn (TRL's completion_only_loss), "
        "every assistant turn (TRL's assistant_only_loss), or every token (TRL's default for messages); text rows: every token")
    train: TrainConfig = Field(TrainConfig(steps=600, batch_size=16, lr=2e-3, max_length=96), description="the fine-tuning run")
    checkpoints: CheckpointSchedule = CheckpointSchedule()
    checkpoints_from: CheckpointsFrom | None = Field(
        None, description="skip fine-tuning and study checkpoints you have: a folder of Trainer/TRL checkpoint-N folders, "
        "a list of {step, path}, or {hub, revisions} (docs/bring-your-own.md)")


class RestoreConfig(StrictModel):
    """Restoration of every checkpoint and of the base (the control), with the same budget."""

    moved: ClassVar[dict[str, str]] = {
        **train_moves("restore"),
        "interpolation": "restore.restorers, e.g. [lm_training, {name: interpolation, ratio: 0.5}]",
    }

    data: DataRef | None = Field(WORLD, description="'world' (biographies of restoration people) or a data source of {'text'} rows; "
                                 "null with training-free restorers only")
    train: TrainConfig = Field(TrainConfig(steps=50, batch_size=16, lr=1e-3, lr_schedule="linear", max_length=64),
                               description="the budget of LM-training restoration (the same for every checkpoint and the base)")
    restorers: list[RestorerSpec] = Field(
        default_factory=lambda: [RestorerSpec(name="lm_training", options={"curve": [0.25, 0.5]}),
                                 RestorerSpec(name="lm_training", options={"budget": 2}),
                                 RestorerSpec(name="interpolation", options={"ratio": 0.5})],
        min_length=1,
        description="restorers, in order; the first one's labels lead summary.json (restoration/: lm_training, interpolation); "
        "one of the first's kind with a larger budget checks that restoration has run its course",
    )

    @model_validator(mode="after")
    def _distinct(self) -> RestoreConfig:
        if self.data is None and any(s.name == "lm_training" for s in self.restorers):
            raise ValueError("the lm_training restorer trains on restore.data: give it a data source of {'text'} rows")
        built = [s.build() for s in self.restorers]
        for r in built:
            if r.continues and not any(o.name == r.name and o.budget == 1 and not o.continues for o in built):
                raise ValueError(f"{r.condition} continues the budget-1 {r.name} restorer: list one")
        conditions = [r.condition for r in built]
        if len(set(conditions)) != len(conditions):
            raise ValueError(f"two restorers write the same condition ({', '.join(conditions)})")
        return self


class EvalConfig(StrictModel):
    probes: DataRef = Field(WORLD, description="'world' or a probe file / data source (docs/probes.md)")
    heldout_text: DataRef | None = Field(WORLD, description="'world' or a data source of {'text'} rows: bits/byte (null: none)")
    pattern_prompts: DataRef | None = Field(WORLD, description="'world' or a data source of {'messages'} / {'text'} rows: pattern shift (null: none)")
    batch_size: int = Field(64, ge=1, le=MAX_BATCH)
    mixed_precision: Literal["auto", "no", "bf16"] = Field(
        "auto", description="scoring's forward passes: auto = bf16 autocast for models of 20M+ parameters on a GPU "
        "with bf16 or a CPU measured to run bf16 matmuls fast, else fp32 (no); bf16 forces it (forgetscope/precision.py)"
    )
    max_new_tokens: int = Field(10, ge=1, le=MAX_NEW_TOKENS, description="generation budget of exact/starts_with/refusal probes")
    pattern_max_new_tokens: int = Field(16, ge=1, le=MAX_NEW_TOKENS, description="response length for the pattern-shift metrics")
    stop: list[str] = Field(["\n"], description="generation stops at these strings (and at EOS)")
    backend: Literal["native", "lm_eval"] = Field(
        "native", description="'lm_eval': also score the choice/exact probe items with lm-evaluation-harness "
        "(task configs generated from the probe file) into results/lm_eval.parquet; the native scorer still "
        "fills items.parquet (docs/lm-eval.md)",
    )
    lm_eval_tasks: list[LmEvalTask] = Field(
        [], description="lm-eval tasks (names, or {name, num_fewshot, limit, apply_chat_template, fewshot_as_multiturn, "
        "gen_kwargs, metric}) run on every checkpoint and restored model: probes like any other (docs/lm-eval.md)",
    )
    lm_eval_include_path: list[str] = Field([], description="folders of your own lm-eval task YAMLs (lm-eval's --include_path)")

    @model_validator(mode="after")
    def _lm_eval_installed(self) -> EvalConfig:
        if self.backend == "lm_eval" or self.lm_eval_tasks:
            import importlib.util

            if importlib.util.find_spec("lm_eval") is None:
                raise ValueError("eval.backend lm_eval / eval.lm_eval_tasks need lm-eval: pip install 'forgetscope[lmeval]'")
        return self

    @property
    def uses_lm_eval(self) -> bool:
        return self.backend == "lm_eval" or bool(self.lm_eval_tasks)


class TrajectoryAnalysis(AnalysisConfig):
    primary_probe: str = Field("cloze_l1", description="the probe summary.json leads with")
    delta: float = Field(0.05, ge=0, lt=1, description="tolerance of the stage rule, as a fraction (0.05 = 5 points)")
    n_bootstrap: int = Field(2000, ge=100, le=MAX_BOOTSTRAP, description="bootstrap resamples of probe items")


class TrajectoryConfig(StrictModel):
    study: Literal["trajectory"] = "trajectory"
    name: str = Field("trajectory", description="a label for reports")
    seeds: Seeds = Field([0, 1, 2], description="each seed: its own fine-tuning and restoration (and its own world and base "
                         "unless base_seed is set)")
    base_seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="the seed of the fact world and its pre-trained tiny base, shared by every seed, which then "
        "vary fine-tuning and restoration only (the intervals over seeds cover that variance, not the world's or the base's); "
        "null: each seed its own world and base")
    world: WorldConfig = WorldConfig()
    base: BaseModelConfig = TinyBase()
    finetune: FinetuneConfig = FinetuneConfig()
    restore: RestoreConfig = RestoreConfig()
    eval: EvalConfig = EvalConfig()
    analysis: TrajectoryAnalysis = TrajectoryAnalysis()
    runtime: SeedsRuntime = SeedsRuntime()

    @model_validator(mode="after")
    def _consistent(self) -> TrajectoryConfig:
        self.finetune.checkpoints.resolve(self.finetune.train.steps)
        if self.finetune.checkpoints_from is not None and self.base.kind != "pretrained":
            raise ValueError("finetune.checkpoints_from needs a pretrained base (base.kind: pretrained, base.path: the model they were fine-tuned from)")
        if self.base.kind == "pretrained" and self.world_sources:
            raise ValueError(
                f"a pretrained base needs its own data, not the fact world's: set {', '.join(self.world_sources)} to files"
            )
        if self.base_seed is not None and self.base.kind != "tiny":
            raise ValueError("base_seed picks the fact world and the tiny base every seed shares; a pretrained base is shared already")
        if self.base.kind == "tiny" and len(self.world_sources) < 5:
            raise ValueError("a tiny base is pre-trained on the fact world: keep all data sources at 'world'")
        return self

    @property
    def world_sources(self) -> list[str]:
        refs = {
            "finetune.data": self.finetune.data, "restore.data": self.restore.data, "eval.probes": self.eval.probes,
            "eval.heldout_text": self.eval.heldout_text, "eval.pattern_prompts": self.eval.pattern_prompts,
        }
        if self.finetune.checkpoints_from is not None:  # nothing is fine-tuned: its data is not read
            del refs["finetune.data"]
        return [k for k, v in refs.items() if v == WORLD]

    @property
    def uses_world(self) -> bool:
        return bool(self.world_sources)
