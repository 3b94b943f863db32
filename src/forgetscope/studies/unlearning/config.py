"""Config of the unlearning study: a base, an oracle that never saw the forget set, unlearned models,
relearning attacks and prompt-side attacks, and the verdict's tolerance (docs/unlearning.md).

Two kinds of base: the fact world's tiny base (`base.kind: tiny`: the world makes the forget, retain
and general sets and pre-trains the oracle), or a pretrained model (`base.kind: pretrained`: the sets
come from a probe file, `probes`, the oracle is optional, `oracle.path`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from forgetscope.config import StrictModel
from forgetscope.evaluation.lm_eval_tasks import LmEvalTask
from forgetscope.models.checkpoints_from import CheckpointsFrom
from forgetscope.studies.common_config import (
    MAX_BOOTSTRAP,
    MAX_SEED,
    AnalysisConfig,
    BaseModelConfig,
    Seeds,
    SeedsRuntime,
    TinyBase,
)
from forgetscope.training import TrainConfig
from forgetscope.world.config import WorldConfig

METHODS = ("ga", "graddiff", "npo", "idk")
ATTACKS = ("text", "forget_folds", "retain")
TRANSFORMS = ("leetspeak", "piglatin")  # prompt-side attacks on a pretrained base's forget probe


class ForgetConfig(StrictModel):
    """Who is forgotten: the first `people` of the world's evaluation people (the rest are retained)."""

    people: int = Field(20, ge=0, le=100_000, description="forget people (the first of the world's eval split); "
                        "their cloze items are the forget probe")
    folds: int = Field(2, ge=2, le=100, description="the forget people in this many parts: the forget_folds attack "
                       "relearns on all parts but one and probes that one, rotated over the parts")


class ProbeSets(StrictModel):
    """A pretrained base's forget, retain and general sets: choice items of one probe file (the
    trajectory study's format, forgetscope.evaluation.items), chosen by their `probe` names."""

    path: str = Field(description="a probe file: JSONL choice items (id, probe, kind: choice, prompt, choices, answer)")
    forget: list[str] = Field(min_length=1, description="probe names whose items are the forget set (unlearned, attacked)")
    retain: list[str] = Field(min_length=1, description="probe names whose items are the retain set (kept; the retain attack's text)")
    general: list[str] = Field(min_length=1, description="probe names whose items are the general set (utility; never trained on)")

    @model_validator(mode="after")
    def _disjoint(self) -> ProbeSets:
        names = self.forget + self.retain + self.general
        if len(set(names)) != len(names):
            raise ValueError(f"probes: a probe name is in two sets ({', '.join(names)}): forget, retain and general must be disjoint")
        return self


class TranslationFile(StrictModel):
    """The forget prompts in another language, read from a file by the `parallel` transform: one row per
    forget item, {"id": <the probe file's item id>, "prompt": {"<language>": "..."}} (the choices stay)."""

    path: str = Field(description="a JSONL file of {id, prompt: {<language>: text}} rows, one per forget item")
    language: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", description="the language's key in each row's prompt "
                          "(fr, de, ...): the attack is conjugate_<language>")


class UnlearnedFolder(StrictModel):
    """A model unlearned elsewhere (a full model folder or a LoRA adapter of the base), audited as it is."""

    label: str = Field(description="its name in tables")
    path: str = Field(description="the model folder (same architecture and tokenizer as the base: checked)")


class OracleConfig(StrictModel):
    """The control: a base pre-trained identically except that the forget people's biographies are left out."""

    path: str | None = Field(None, description="an oracle model folder to use instead of pre-training one (it must "
                             "have the base's tokenizer); on a pretrained base the only oracle, and optional: without "
                             "it no verdict can say removed or hidden (docs/unlearning.md)")
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
    base: BaseModelConfig = TinyBase()
    probes: ProbeSets | None = Field(None, description="a pretrained base's forget, retain and general sets (a probe file)")
    forget: ForgetConfig = ForgetConfig()
    oracle: OracleConfig = OracleConfig()
    methods: list[MethodConfig] = Field(
        default_factory=lambda: [MethodConfig(name="ga"), MethodConfig(name="graddiff", retain_weight=1.0),
                                 MethodConfig(name="npo", retain_weight=1.0), MethodConfig(name="idk", retain_weight=1.0)],
        description="the built-in unlearning methods, each applied to the base")
    unlearned: list[UnlearnedFolder] = Field([], description="models unlearned elsewhere, each audited (pretrained base)")
    checkpoints_from: CheckpointsFrom | None = Field(
        None, description="an unlearning run's checkpoints, each audited as 'checkpoint-N' (pretrained base): a folder "
        "of checkpoint-N/ folders as transformers' Trainer and OpenUnlearning write them, or a list of {step, path}")
    relearn: RelearnConfig = RelearnConfig()
    conjugate: bool = Field(True, description="also probe the forget set in the world's L2 (a prompt-side attack; "
                            "fact world only: set false on a pretrained base)")
    transforms: list[Literal[TRANSFORMS]] = Field(  # type: ignore[valid-type]
        [], description="prompt-side attacks on a pretrained base: the forget probe's prompts in leetspeak or pig latin "
        "(forgetscope.transforms; the choices stay as they are)")
    translation: TranslationFile | None = Field(None, description="a prompt-side attack on a pretrained base: the "
                                                "forget prompts in another language from a file (the parallel transform)")
    general_tasks: list[LmEvalTask] = Field(
        [], description="lm-eval tasks (names, or {name, num_fewshot, limit, apply_chat_template, fewshot_as_multiturn, "
        "gen_kwargs, metric}) scored on every model before relearning (base, oracles, unlearned models): general "
        "capability beside the general probe, as each task's per-document metric (docs/unlearning.md)")
    general_tasks_include_path: list[str] = Field([], description="folders of your own lm-eval task YAMLs for "
                                                  "general_tasks (lm-eval's --include_path)")
    eval_batch_size: int = Field(64, ge=1, le=65_536, description="probe items scored per forward batch")
    analysis: UnlearningAnalysis = UnlearningAnalysis()
    runtime: SeedsRuntime = SeedsRuntime()

    @model_validator(mode="after")
    def _consistent(self) -> UnlearningConfig:
        names = [m.condition for m in self.methods] + [u.label for u in self.unlearned] + ["oracle"]
        if len(set(names)) != len(names) or any(n.startswith("checkpoint-") for n in names):
            raise ValueError(f"methods and unlearned folders need distinct labels, none 'oracle' or 'checkpoint-N' ({', '.join(names[:-1])})")
        if self.pretrained:
            self._check_pretrained()
        else:
            if self.conjugate and not self.world.second_language:
                raise ValueError("conjugate probes the world's L2: keep world.second_language true, or set conjugate false")
            for field in ("probes", "unlearned", "checkpoints_from", "transforms", "translation"):
                if getattr(self, field):
                    raise ValueError(f"{field} is for a pretrained base (base.kind: pretrained); the fact world makes its own")
        if not (self.methods or self.unlearned or self.checkpoints_from or self.oracle.audit):
            raise ValueError("nothing to audit: give methods, unlearned folders or checkpoints_from")
        if self.general_tasks:
            import importlib.util

            if importlib.util.find_spec("lm_eval") is None:
                raise ValueError("general_tasks need lm-eval: pip install 'forgetscope[lmeval]'")
        return self

    def _check_pretrained(self) -> None:
        if self.probes is None:
            raise ValueError("a pretrained base needs probes: {path, forget, retain, general} (a probe file's forget, retain and general sets)")
        # by value, not by the fields a file names: a run's own config.yaml (every field written out,
        # defaults included) loads again, for `reanalyze` and a resumed run
        fields = type(self).model_fields
        given = [f for f in ("world", "base_seed") if getattr(self, f) != fields[f].default]
        given += ["forget.people"] if self.forget.people != ForgetConfig.model_fields["people"].default else []
        if given:
            raise ValueError(f"{given[0]} is for the fact world; a pretrained base takes its sets from probes")
        if self.conjugate:
            raise ValueError("conjugate probes the fact world's L2: set conjugate false on a pretrained base (transforms: its prompt-side attacks)")
        if self.oracle.audit:
            raise ValueError("oracle.audit pre-trains a second oracle on the fact world: set oracle.audit false on a pretrained base")
        if "text" in self.relearn.attacks and self.relearn.data == "world":
            raise ValueError("relearn.data: 'world' is the fact world's text: on a pretrained base give a file of {'text'} rows")

    @property
    def pretrained(self) -> bool:
        return self.base.kind == "pretrained"

    @property
    def has_control(self) -> bool:
        """Whether an oracle (the control) exists: always on the fact world, with oracle.path on a pretrained base."""
        return not self.pretrained or self.oracle.path is not None

    def checkpoints(self) -> list:
        """checkpoints_from's checkpoints (forgetscope.models.checkpoints_from), by step."""
        from forgetscope.models.checkpoints_from import find_checkpoints

        return [] if self.checkpoints_from is None else find_checkpoints(self.checkpoints_from)

    @property
    def audited(self) -> list[str]:
        """The models the verdicts are about, in table order."""
        return ((["oracle"] if self.oracle.audit else []) + [m.condition for m in self.methods] + [u.label for u in self.unlearned]
                + [f"checkpoint-{c.step}" for c in self.checkpoints()])

    @property
    def prompt_attacks(self) -> list[tuple[str, str]]:
        """(attack, probe) of every prompt-side attack: the world's L2, each transform, the translation."""
        out = [("conjugate_l2", "forget_l2")] if self.conjugate else []
        out += [(f"conjugate_{t}", f"forget_{t}") for t in self.transforms]
        if self.translation is not None:
            out.append((f"conjugate_{self.translation.language}", f"forget_{self.translation.language}"))
        return out

    def method_of(self, name: str) -> str:
        """What made an audited model: oracle, a built-in method's name, folder or checkpoint."""
        if name == "oracle":
            return "oracle"
        if name.startswith("checkpoint-"):
            return "checkpoint"
        return next((m.name for m in self.methods if m.condition == name), "folder")
