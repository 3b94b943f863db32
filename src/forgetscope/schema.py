"""The results schema: one pydantic model per study's summary.json.

Each study's analysis stage builds its summary as one of these models and writes summary.json from
it; its record (forgetscope.studies.registry.Study) names the model, which the HTML report reads back
and `forgetscope schema STUDY` prints as JSON Schema; docs/outputs.md carries the field tables
generated from it (a test keeps them equal). A new study may keep its model in its own folder, built
from the records here. Scores are fractions in [0, 1] unless a field says otherwise; every interval is
[low, high] at the summary's `ci_level`, null where it is undefined (one seed, no value).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Num = float | None
Interval = tuple[Num, Num]
Label = Literal["none", "pseudo", "actual", "uncertain"]  # the stage rule: forgetscope.analysis.stage_rule


class Record(BaseModel):
    """A part of a summary: every key is declared; unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


# -- trajectory ---------------------------------------------------------------------------------
class StatIntervals(Record):
    score: Interval
    restored: Interval
    forgetting: Interval
    recovered: Interval
    unrecovered: Interval
    gap: Interval


class BaseIntervals(Record):
    base: Interval
    restored_base: Interval


class ScoreWithInterval(Record):
    score: Num
    ci: Interval


class Checkpoint(Record):
    step: int = Field(description="fine-tuning step")
    score: Num = Field(description="F_t: the checkpoint's score (mean over seeds)")
    restored: Num = Field(description="R_t: its score after restoration")
    forgetting: Num = Field(description="B - F_t")
    recovered: Num = Field(description="R_t - F_t: what restoration brought back (pseudo forgetting)")
    unrecovered: Num = Field(description="B - R_t: what it did not (actual forgetting)")
    gap_to_restored_base: Num = Field(description="R_0 - R_t: below the restored base (the control)")
    label: Label = Field(
        description="the stage rule (docs/concepts.md) applied to the seed means: none when it lost at most delta; "
        "uncertain when restoration lowered the base itself by more than delta (a damaged control); else actual when "
        "the gap exceeds delta, pseudo otherwise")
    label_by_seed: list[Label] = Field(description="the rule applied to each seed, in seed order")
    label_ci: Label = Field(
        description="the label the intervals support: none when the forgetting's interval lies at or below delta; "
        "uncertain when it reaches delta or the control is damaged; actual when the gap's interval lies above delta "
        "(and, when a larger restoration budget ran, it finds the checkpoint actual too); pseudo when the gap's lies "
        "at or below it; uncertain otherwise")
    saturated: bool | None = Field(
        description="for a checkpoint actual at the configured budget: whether every larger budget agrees (false: "
        "restoration had not run its course, so label_ci is uncertain); null when no larger budget ran")
    ci: StatIntervals
    other_restorers: dict[str, ScoreWithInterval] = Field(
        default_factory=dict, description="restored score under every restorer after the first, by condition")


class Finding(Record):
    """A source study's claim, measured, with the interval that decides it (analysis/findings.py)."""

    id: str
    claim: str = Field(description="the claim, in words")
    source: str = Field(description="the study it comes from")
    measure: str = Field(description="what is measured")
    unit: str = Field(description="the unit of value and ci")
    value: Num
    ci: Interval
    verdict: Literal["holds", "fails", "uncertain"] = Field(
        description="holds: the interval lies on the claim's side; fails: on the other side; uncertain: it straddles")
    evidence: str = Field(description="one sentence from the labels and intervals behind the verdict")


class CurvePoint(Record):
    step: int = Field(description="the fine-tuning checkpoint (0 = the base)")
    budget: float = Field(description="restoration steps in multiples of restore.train.steps (0 = not restored)")
    score: Num
    ci: Interval


class DamagedControl(Record):
    """Restoration lowered the base itself by more than delta: the recipe damages the model it restores,
    so every pseudo/actual label under this restorer and probe is uncertain."""

    probe: str = Field(description="the knowledge probe (or lm-eval task)")
    restorer: str = Field(description="the restorer's condition")
    base: float = Field(description="B: the base's score (mean over seeds)")
    restored_base: float = Field(description="R_0: the restored base's score (mean over seeds)")
    drop: float = Field(description="B - R_0, more than delta")


class ProbeDecomposition(Record):
    probe: str
    source: Literal["probes", "lm_eval"] = Field(description="a probe file's items, or an lm-eval task's documents")
    metric: str | None = Field(description="lm-eval tasks: the per-document metric scored (null for probe items)")
    restorer: str = Field(description="the condition of the restorer these numbers come from")
    base: Num = Field(description="B: the base's score")
    restored_base: Num = Field(description="R_0: the base's score after restoration (the control)")
    ci: BaseIntervals
    transition_step: int | None = Field(description="first checkpoint labelled actual by its interval (label_ci)")
    checkpoints: list[Checkpoint]


class Rate(Record):
    step: int
    rate: Num
    ci: Interval


class PatternShift(Record):
    format: str = Field(description="prompt format: chat or plain")
    step: int
    kl: Num = Field(description="KL(base || checkpoint), mean nats per response token")
    kl_ci: Interval
    unshifted: Num = Field(description="share of response tokens ranked 1 under the base")
    unshifted_ci: Interval
    marginal: Num = Field(description="share ranked 2-3")
    marginal_ci: Interval
    shifted: Num = Field(description="share ranked above 3")
    shifted_ci: Interval


class BitsPerByte(Record):
    condition: str
    step: int
    language: str
    bits_per_byte: Num
    ci: Interval


class RestorerInfo(Record):
    condition: str = Field(description="its label in the result tables")
    name: str = Field(description="the restorer (restoration/)")
    options: dict[str, Any]
    budget: float = Field(description="restoration steps in multiples of restore.train.steps (1 for a training-free restorer)")
    title: str = Field(description="a short label for plots and tables")
    describe: str


class LmEvalAggregate(Record):
    task: str
    metric: str = Field(description="lm-eval's metric name (`metric,filter` where the filter is not none)")
    condition: str
    step: int
    value: Num = Field(description="lm-eval's aggregate, mean over seeds")
    value_by_seed: list[Num]
    stderr_by_seed: list[Num] = Field(description="lm-eval's own standard error, per seed (null where it gives none)")
    n: int | None = Field(description="documents scored")


class TrajectorySummary(Record):
    study: Literal["trajectory"] = "trajectory"
    schema_version: Literal[4] = 4
    name: str
    probe: str = Field(description="the primary probe (analysis.primary_probe)")
    delta: float = Field(description="tolerance of the stage rule")
    ci_level: float
    seeds: list[int]
    restorers: list[RestorerInfo] = Field(description="in config order; the first one's numbers lead")
    base: Num
    restored_base: Num
    transition_step: int | None
    ci: BaseIntervals
    findings: list[Finding] = Field(description="Zhang et al.'s claims, each decided by its interval")
    damaged_controls: list[DamagedControl] = Field(
        description="every probe and restorer whose restored base fell more than delta below the base (empty when none)")
    checkpoints: list[Checkpoint] = Field(description="the primary probe under the first restorer")
    restoration_curve: list[CurvePoint] = Field(description="the primary probe against the restoration budget")
    probes: dict[str, ProbeDecomposition] = Field(description="every knowledge probe under the first restorer")
    rates: dict[str, dict[str, list[Rate]]] = Field(description="refusal probes: rate per condition and step")
    pattern_shift: list[PatternShift]
    bits_per_byte: list[BitsPerByte]
    lm_eval: list[LmEvalAggregate] = Field(description="eval.lm_eval_tasks: lm-eval's aggregate metrics and stderr, as it reports them")
    forgetscope_version: str


# -- conjugate ----------------------------------------------------------------------------------
class DropStats(Record):
    """A capability score of the base and the fine-tuned model under one transform."""

    base: Num
    base_ci: Interval
    tuned: Num
    tuned_ci: Interval
    drop: Num = Field(description="base - tuned")
    drop_ci: Interval
    recovered_share: Num = Field(description="1 - drop / identity drop (null where the identity drop <= min_drop)")
    recovered_share_ci: Interval


class SuiteRow(DropStats):
    task: str = Field(description="a task of the suite, or 'all'")
    transform: str
    n: int = Field(description="prompts")


class SuiteBlock(Record):
    metric: str
    transforms: list[str]
    rules: dict[str, str] = Field(description="each transform's rule, in words")
    rows: list[SuiteRow]


class BySeed(Record):
    base: list[Num]
    tuned: list[Num]


class WorldRow(DropStats):
    step: int
    task: str = Field(description="icl or private")
    transform: str
    seeds: list[int]
    n_items: int
    by_seed: BySeed
    refusal_base: Num = None
    refusal_base_ci: Interval | None = None
    leaked_base: Num = None
    refusal_tuned: Num = None
    refusal_tuned_ci: Interval | None = None
    leaked_tuned: Num = None


class MeanInterval(Record):
    mean: Num
    ci: Interval


class Check(Record):
    step: int
    claim: str
    value: Num = Field(description="what the claim reads as (mean over seeds)")
    ci: Interval
    decided_on: MeanInterval | None = Field(
        description="where a claim compares two quantities (L2 against half of L1): the per-seed difference that decides it")
    verdict: Literal["holds", "fails", "uncertain"]


class ClaimAcrossSteps(Record):
    """One fact-world claim at every checkpoint: the world's finding is its claims one by one (no
    checkpoint of the shipped world shows all five together: docs/conjugate.md)."""

    id: str = Field(description="the id of this claim's finding")
    claim: str = Field(description="as in checks[].claim")
    holds_at: list[int] = Field(description="checkpoints where its interval lies on the claim's side")
    fails_at: list[int] = Field(description="checkpoints where it lies on the other side")
    uncertain_at: list[int] = Field(description="checkpoints where it straddles the threshold")


class FactWorldBlock(Record):
    run: str | None = Field(description="the trajectory run the models came from")
    seeds: list[int]
    steps: list[int]
    transforms: list[str]
    languages: dict[str, str]
    metric: str
    rows: list[WorldRow]
    checks: list[Check] = Field(description="every claim at every checkpoint, with its value, interval and verdict")
    claims: list[ClaimAcrossSteps] = Field(description="each claim's verdicts across the checkpoints")


class ConjugateSummary(Record):
    study: Literal["conjugate"] = "conjugate"
    schema_version: Literal[3] = 3
    name: str
    seeds: list[int] = Field(description="the seeds drawn from (model suites: the first; fact world: the trajectory run's)")
    ci_level: float
    models: dict[str, str | None]
    findings: list[Finding] = Field(description="Kotha et al.'s claims, each decided by its interval: per model suite and "
                                    "transform, and per fact-world claim across the checkpoints")
    suites: dict[str, SuiteBlock]
    fact_world: FactWorldBlock | None
    forgetscope_version: str


# -- regression ---------------------------------------------------------------------------------
class SeedStat(Record):
    mean: Num
    ci: Interval
    by_seed: list[Num]


class KLoss(Record):
    k: int
    mse: Num
    ci: Interval


class KChange(Record):
    k: int
    change: Num
    ci: Interval


class StepLoss(Record):
    step: int
    mse: Num
    ci: Interval


class Effect(Record):
    base: SeedStat
    finetuned: SeedStat
    change: SeedStat = Field(description="finetuned - base, mean MSE over k")
    change_by_k: list[KChange]


class ClosenessBin(Record):
    bin: int = Field(description="0 = farthest from the discrete set (posterior_discrete: bins within each k, averaged over k)")
    damage: Num
    ci: Interval
    closeness: Num
    base_mse: Num
    relative_damage: Num


class Closeness(Record):
    bins: list[ClosenessBin]
    closest_minus_farthest: SeedStat


class ConjugateK(Record):
    k: int
    recovered: Num
    ci: Interval
    base: Num
    finetuned: Num
    conjugate: Num
    base_conjugate: Num
    damage: Num
    recovered_share: Num


class GammaRecovery(Record):
    per_k: list[ConjugateK]
    recovered: SeedStat
    share: Num
    share_by_seed: list[Num]
    recovered_small_k: SeedStat
    share_small_k: Num
    share_small_k_by_seed: list[Num]
    recovered_large_k: SeedStat
    share_large_k: Num
    share_large_k_by_seed: list[Num]
    small_minus_large: SeedStat


class Agreement(Record):
    k: int
    to_ridge: MeanInterval = Field(description="mean squared distance of the prediction to ridge's")
    to_discrete_bayes: MeanInterval = Field(description="... to the discrete-Bayes prediction")


class RegressionSummary(Record):
    study: Literal["regression"] = "regression"
    schema_version: Literal[2] = 2
    name: str
    seeds: list[int]
    ci_level: float
    task: dict[str, float | int]
    ridge_lambda: float
    finetune_steps: list[int]
    gammas: list[float]
    small_k: int
    loss_by_k: dict[str, dict[str, list[KLoss]]] = Field(description="family -> predictor -> MSE per k (gamma 1)")
    conjugate_loss_by_k: dict[str, dict[str, list[KLoss]]] = Field(description="family -> '<model>@<gamma>' -> MSE per k")
    finetune_effect: dict[str, Effect]
    trajectory: dict[str, list[StepLoss]]
    agreement: dict[str, dict[str, list[Agreement]]]
    closeness: dict[str, Closeness]
    conjugate: dict[str, GammaRecovery] = Field(description="gamma -> recovery by conjugate prompts (X, gamma y)")
    findings: list[Finding] = Field(description="Kotha et al.'s regression claims, each decided by its interval")
    forgetscope_version: str


def markdown_tables(model: type[BaseModel]) -> str:
    """Field tables of a summary model and every record it contains (docs/outputs.md holds them)."""
    from typing import get_args, get_origin

    seen: list[type[BaseModel]] = []

    def records(annotation) -> list[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return [annotation]
        return [r for a in get_args(annotation) for r in records(a)] if get_origin(annotation) is not None or get_args(annotation) else []

    def visit(m: type[BaseModel]) -> None:
        if m in seen:
            return
        seen.append(m)
        for f in m.model_fields.values():
            for r in records(f.annotation):
                visit(r)

    visit(model)
    out = []
    for m in seen:
        out.append(f"`{m.__name__}`\n\n| field | type | meaning |\n|---|---|---|")
        for name, f in m.model_fields.items():
            kind = _type_name(f.annotation).replace("|", "\\|")
            out.append(f"| `{name}` | {kind} | {(f.description or '').replace('|', '/')} |")
        out.append("")
    return "\n".join(out)


def _type_name(annotation) -> str:
    from typing import get_args, get_origin

    origin = get_origin(annotation)
    if annotation is type(None):
        return "null"
    if origin is None:
        return getattr(annotation, "__name__", str(annotation))
    args = get_args(annotation)
    if origin is Literal:
        return " or ".join(repr(a) for a in args)
    if origin is tuple:
        return f"[{', '.join(_type_name(a) for a in args)}]"
    name = getattr(origin, "__name__", str(origin))
    if name in ("Union", "UnionType"):
        return " or ".join(_type_name(a) for a in args)
    return f"{name}[{', '.join(_type_name(a) for a in args)}]"
