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
    score: Interval = Field(description="interval at ci_level [lo, hi] of score (F_t)")
    restored: Interval = Field(description="interval at ci_level [lo, hi] of restored (R_t)")
    forgetting: Interval = Field(description="interval at ci_level [lo, hi] of forgetting (B - F_t)")
    recovered: Interval = Field(description="interval at ci_level [lo, hi] of recovered (R_t - F_t)")
    unrecovered: Interval = Field(description="interval at ci_level [lo, hi] of unrecovered (B - R_t)")
    gap: Interval = Field(description="interval at ci_level [lo, hi] of gap_to_restored_base (R_0 - R_t)")


class BaseIntervals(Record):
    base: Interval = Field(description="interval at ci_level [lo, hi] of the base's score (B)")
    restored_base: Interval = Field(description="interval at ci_level [lo, hi] of the restored base's score (R_0)")


class ScoreWithInterval(Record):
    score: Num = Field(description="the restored score (mean over seeds)")
    ci: Interval = Field(description="its interval at ci_level [lo, hi]")


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
    ci: StatIntervals = Field(description="the intervals of the numbers above")
    other_restorers: dict[str, ScoreWithInterval] = Field(
        default_factory=dict, description="restored score under every restorer after the first, by condition")


class Finding(Record):
    """A source study's claim, measured, with the interval that decides it (analysis/findings.py)."""

    id: str = Field(description="a stable name of the claim (analysis/findings.py)")
    claim: str = Field(description="the claim, in words")
    source: str = Field(description="the study it comes from")
    measure: str = Field(description="what is measured")
    unit: str = Field(description="the unit of value and ci")
    value: Num = Field(description="the measured value, in unit")
    ci: Interval = Field(description="its interval at ci_level [lo, hi]")
    verdict: Literal["holds", "fails", "uncertain"] = Field(
        description="holds: the interval lies on the claim's side; fails: on the other side; uncertain: it straddles")
    evidence: str = Field(description="one sentence from the labels and intervals behind the verdict")


class CurvePoint(Record):
    step: int = Field(description="the fine-tuning checkpoint (0 = the base)")
    budget: float = Field(description="restoration steps in multiples of restore.train.steps (0 = not restored)")
    score: Num = Field(description="the primary probe's score at that budget (mean over seeds)")
    ci: Interval = Field(description="its interval at ci_level [lo, hi]")


class DamagedControl(Record):
    """Restoration lowered the base itself by more than delta: the recipe damages the model it restores,
    so every pseudo/actual label under this restorer and probe is uncertain."""

    probe: str = Field(description="the knowledge probe (or lm-eval task)")
    restorer: str = Field(description="the restorer's condition")
    base: float = Field(description="B: the base's score (mean over seeds)")
    restored_base: float = Field(description="R_0: the restored base's score (mean over seeds)")
    drop: float = Field(description="B - R_0, more than delta")


class ProbeDecomposition(Record):
    probe: str = Field(description="the probe's name (or lm-eval task)")
    source: Literal["probes", "lm_eval"] = Field(description="a probe file's items, or an lm-eval task's documents")
    metric: str | None = Field(description="lm-eval tasks: the per-document metric scored (null for probe items)")
    restorer: str = Field(description="the condition of the restorer these numbers come from")
    base: Num = Field(description="B: the base's score")
    restored_base: Num = Field(description="R_0: the base's score after restoration (the control)")
    ci: BaseIntervals = Field(description="the intervals of base and restored_base")
    transition_step: int | None = Field(description="first checkpoint labelled actual by its interval (label_ci)")
    checkpoints: list[Checkpoint] = Field(description="every fine-tuning checkpoint, in step order")


class Rate(Record):
    step: int = Field(description="fine-tuning step (0 = the base)")
    rate: Num = Field(description="share of the probe's items refused (mean over seeds)")
    ci: Interval = Field(description="its interval at ci_level [lo, hi]")


class PatternShift(Record):
    format: str = Field(description="prompt format: chat or plain")
    step: int = Field(description="fine-tuning step")
    kl: Num = Field(description="KL(base || checkpoint), mean nats per response token")
    kl_ci: Interval = Field(description="interval at ci_level [lo, hi] of kl")
    unshifted: Num = Field(description="share of response tokens ranked 1 under the base")
    unshifted_ci: Interval = Field(description="interval at ci_level [lo, hi] of unshifted")
    marginal: Num = Field(description="share ranked 2-3")
    marginal_ci: Interval = Field(description="interval at ci_level [lo, hi] of marginal")
    shifted: Num = Field(description="share ranked above 3")
    shifted_ci: Interval = Field(description="interval at ci_level [lo, hi] of shifted")


class BitsPerByte(Record):
    condition: str = Field(description="checkpoint (not restored; step 0 is the base) or a restorer's condition")
    step: int = Field(description="fine-tuning step (0 = the base)")
    language: str = Field(description="the held-out text's language")
    bits_per_byte: Num = Field(description="held-out bits per UTF-8 byte (mean over seeds; lower is better)")
    ci: Interval = Field(description="its interval at ci_level [lo, hi]")


class RestorerInfo(Record):
    condition: str = Field(description="its label in the result tables")
    name: str = Field(description="the restorer (restoration/)")
    options: dict[str, Any] = Field(description="its options as configured")
    budget: float = Field(description="restoration steps in multiples of restore.train.steps (1 for a training-free restorer)")
    title: str = Field(description="a short label for plots and tables")
    describe: str = Field(description="what it does, in one sentence")


class LmEvalAggregate(Record):
    task: str = Field(description="the lm-eval task (or group)")
    metric: str = Field(description="lm-eval's metric name (`metric,filter` where the filter is not none)")
    condition: str = Field(description="checkpoint (not restored; step 0 is the base) or a restorer's condition")
    step: int = Field(description="fine-tuning step (0 = the base)")
    value: Num = Field(description="lm-eval's aggregate, mean over seeds")
    value_by_seed: list[Num] = Field(description="lm-eval's aggregate per seed, in seed order")
    stderr_by_seed: list[Num] = Field(description="lm-eval's own standard error, per seed (null where it gives none)")
    n: int | None = Field(description="documents scored")


class TrajectorySummary(Record):
    study: Literal["trajectory"] = Field("trajectory", description="the study that wrote this summary")
    schema_version: Literal[4] = Field(4, description="the version of this layout (docs/outputs.md lists the changes)")
    name: str = Field(description="the config's name")
    probe: str = Field(description="the primary probe (analysis.primary_probe)")
    delta: float = Field(description="tolerance of the stage rule")
    ci_level: float = Field(description="level of every interval (analysis.ci_level)")
    seeds: list[int] = Field(description="the seeds run; numbers are means over them")
    restorers: list[RestorerInfo] = Field(description="in config order; the first one's numbers lead")
    base: Num = Field(description="B: the primary probe's base score (mean over seeds)")
    restored_base: Num = Field(description="R_0: the primary probe's restored-base score (the control)")
    transition_step: int | None = Field(description="the primary probe's first checkpoint labelled actual by its interval (null when none)")
    ci: BaseIntervals = Field(description="the intervals of base and restored_base")
    findings: list[Finding] = Field(description="Zhang et al.'s claims, each decided by its interval")
    damaged_controls: list[DamagedControl] = Field(
        description="every probe and restorer whose restored base fell more than delta below the base (empty when none)")
    checkpoints: list[Checkpoint] = Field(description="the primary probe under the first restorer")
    restoration_curve: list[CurvePoint] = Field(description="the primary probe against the restoration budget")
    probes: dict[str, ProbeDecomposition] = Field(description="every knowledge probe under the first restorer")
    rates: dict[str, dict[str, list[Rate]]] = Field(description="refusal probes: rate per condition and step")
    pattern_shift: list[PatternShift] = Field(
        description="eval.pattern_prompts: how far each checkpoint's next-token choices moved from the base's")
    bits_per_byte: list[BitsPerByte] = Field(description="eval.heldout_text: held-out bits per byte, per model and language")
    lm_eval: list[LmEvalAggregate] = Field(description="eval.lm_eval_tasks: lm-eval's aggregate metrics and stderr, as it reports them")
    forgetscope_version: str = Field(description="the forgetscope version that wrote it")


# -- conjugate ----------------------------------------------------------------------------------
class DropStats(Record):
    """A capability score of the base and the fine-tuned model under one transform."""

    base: Num = Field(description="the base model's score")
    base_ci: Interval = Field(description="interval at ci_level [lo, hi] of base")
    tuned: Num = Field(description="the fine-tuned model's score")
    tuned_ci: Interval = Field(description="interval at ci_level [lo, hi] of tuned")
    drop: Num = Field(description="base - tuned")
    drop_ci: Interval = Field(description="interval at ci_level [lo, hi] of drop")
    recovered_share: Num = Field(description="1 - drop / identity drop (null where the identity drop <= min_drop)")
    recovered_share_ci: Interval = Field(description="interval at ci_level [lo, hi] of recovered_share")


class SuiteRow(DropStats):
    task: str = Field(description="a task of the suite, or 'all'")
    transform: str = Field(description="the prompt transform's label (identity: the prompt as it is)")
    n: int = Field(description="prompts")


class SuiteBlock(Record):
    metric: str = Field(description="what score measures (accuracy, answer rate)")
    transforms: list[str] = Field(description="the transforms run, in config order")
    rules: dict[str, str] = Field(description="each transform's rule, in words")
    rows: list[SuiteRow] = Field(description="one per task and transform, 'all' first")


class BySeed(Record):
    base: list[Num] = Field(description="the base model's score per seed, in seed order")
    tuned: list[Num] = Field(description="the fine-tuned model's score per seed")


class WorldRow(DropStats):
    step: int = Field(description="the fine-tuning checkpoint")
    task: str = Field(description="icl or private")
    transform: str = Field(description="the prompt transform's label")
    seeds: list[int] = Field(description="the seeds averaged over")
    n_items: int = Field(description="prompts per seed")
    by_seed: BySeed = Field(description="base and tuned score per seed")
    refusal_base: Num = Field(None, description="private task: the base's refusal rate (null for icl)")
    refusal_base_ci: Interval | None = Field(None, description="interval at ci_level [lo, hi] of refusal_base")
    leaked_base: Num = Field(None, description="private task: share of the base's replies that hold the private value")
    refusal_tuned: Num = Field(None, description="private task: the checkpoint's refusal rate")
    refusal_tuned_ci: Interval | None = Field(None, description="interval at ci_level [lo, hi] of refusal_tuned")
    leaked_tuned: Num = Field(None, description="private task: share of the checkpoint's replies that hold the private value")


class MeanInterval(Record):
    mean: Num = Field(description="mean over seeds")
    ci: Interval = Field(description="its interval at ci_level [lo, hi]")


class Check(Record):
    step: int = Field(description="the fine-tuning checkpoint")
    claim: str = Field(description="the claim, in words")
    value: Num = Field(description="what the claim reads as (mean over seeds)")
    ci: Interval = Field(description="interval at ci_level [lo, hi] of value")
    decided_on: MeanInterval | None = Field(
        description="where a claim compares two quantities (L2 against half of L1): the per-seed difference that decides it")
    verdict: Literal["holds", "fails", "uncertain"] = Field(
        description="holds: the interval lies on the claim's side; fails: on the other side; uncertain: it straddles")


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
    seeds: list[int] = Field(description="the trajectory run's seeds")
    steps: list[int] = Field(description="the checkpoints scored")
    transforms: list[str] = Field(description="the transforms run")
    languages: dict[str, str] = Field(description="each transform's language")
    metric: str = Field(description="what the scores measure")
    rows: list[WorldRow] = Field(description="one per checkpoint, task and transform")
    checks: list[Check] = Field(description="every claim at every checkpoint, with its value, interval and verdict")
    claims: list[ClaimAcrossSteps] = Field(description="each claim's verdicts across the checkpoints")


class ConjugateSummary(Record):
    study: Literal["conjugate"] = Field("conjugate", description="the study that wrote this summary")
    schema_version: Literal[3] = Field(3, description="the version of this layout (docs/outputs.md lists the changes)")
    name: str = Field(description="the config's name")
    seeds: list[int] = Field(description="the seeds drawn from (model suites: the first; fact world: the trajectory run's)")
    ci_level: float = Field(description="level of every interval (analysis.ci_level)")
    models: dict[str, str | None] = Field(description="base and tuned: the model folders or hub ids (null when not given)")
    findings: list[Finding] = Field(description="Kotha et al.'s claims, each decided by its interval: per model suite and "
                                    "transform, and per fact-world claim across the checkpoints")
    suites: dict[str, SuiteBlock] = Field(description="each model suite's results (icl_if, reasoning, refusal)")
    fact_world: FactWorldBlock | None = Field(description="the fact world's checkpoints under its transforms (null when not run)")
    forgetscope_version: str = Field(description="the forgetscope version that wrote it")


# -- regression ---------------------------------------------------------------------------------
class SeedStat(Record):
    mean: Num = Field(description="mean over seeds")
    ci: Interval = Field(description="its interval at ci_level [lo, hi] (t-interval over seeds)")
    by_seed: list[Num] = Field(description="the value per seed, in seed order")


class KLoss(Record):
    k: int = Field(description="in-context examples in the prompt")
    mse: Num = Field(description="mean squared error of the prediction (mean over seeds)")
    ci: Interval = Field(description="its interval at ci_level [lo, hi]")


class KChange(Record):
    k: int = Field(description="in-context examples in the prompt")
    change: Num = Field(description="finetuned - base MSE at this k (mean over seeds)")
    ci: Interval = Field(description="its interval at ci_level [lo, hi]")


class StepLoss(Record):
    step: int = Field(description="fine-tuning step (0 = the base)")
    mse: Num = Field(description="mean squared error over k (mean over seeds)")
    ci: Interval = Field(description="its interval at ci_level [lo, hi]")


class Effect(Record):
    base: SeedStat = Field(description="the base's MSE, mean over k")
    finetuned: SeedStat = Field(description="the fine-tuned model's MSE, mean over k")
    change: SeedStat = Field(description="finetuned - base, mean MSE over k")
    change_by_k: list[KChange] = Field(description="finetuned - base, per k")


class ClosenessBin(Record):
    bin: int = Field(description="0 = farthest from the discrete set (posterior_discrete: bins within each k, averaged over k)")
    damage: Num = Field(description="finetuned - base squared error on continuous prompts in this bin (mean over seeds)")
    ci: Interval = Field(description="interval at ci_level [lo, hi] of damage")
    closeness: Num = Field(description="the bin's mean closeness to the discrete family (the measure's own scale)")
    base_mse: Num = Field(description="the base's squared error in this bin")
    relative_damage: Num = Field(description="damage / base_mse")


class Closeness(Record):
    bins: list[ClosenessBin] = Field(description="damage per closeness bin, farthest first")
    closest_minus_farthest: SeedStat = Field(description="damage of the closest bin minus the farthest (per seed, then over seeds)")


class ConjugateK(Record):
    k: int = Field(description="in-context examples in the prompt")
    recovered: Num = Field(description="finetuned - conjugate MSE: what the conjugate prompt undoes (mean over seeds)")
    ci: Interval = Field(description="interval at ci_level [lo, hi] of recovered")
    base: Num = Field(description="the base's MSE (gamma 1)")
    finetuned: Num = Field(description="the fine-tuned model's MSE (gamma 1)")
    conjugate: Num = Field(description="the fine-tuned model's MSE on the conjugate prompt (X, gamma y)")
    base_conjugate: Num = Field(description="the base's MSE on the conjugate prompt")
    damage: Num = Field(description="finetuned - base MSE")
    recovered_share: Num = Field(description="recovered / damage (ratio of seed means)")


class GammaRecovery(Record):
    per_k: list[ConjugateK] = Field(description="the numbers per k")
    recovered: SeedStat = Field(description="recovered MSE, mean over k")
    share: Num = Field(description="share of the damage recovered, over every k (ratio of seed means)")
    share_by_seed: list[Num] = Field(description="share per seed")
    recovered_small_k: SeedStat = Field(description="recovered MSE for k <= small_k")
    share_small_k: Num = Field(description="share recovered for k <= small_k")
    share_small_k_by_seed: list[Num] = Field(description="share_small_k per seed")
    recovered_large_k: SeedStat = Field(description="recovered MSE for k > small_k")
    share_large_k: Num = Field(description="share recovered for k > small_k")
    share_large_k_by_seed: list[Num] = Field(description="share_large_k per seed")
    small_minus_large: SeedStat = Field(description="recovered_small_k - recovered_large_k, per seed then over seeds")


class Agreement(Record):
    k: int = Field(description="in-context examples in the prompt")
    to_ridge: MeanInterval = Field(description="mean squared distance of the prediction to ridge's")
    to_discrete_bayes: MeanInterval = Field(description="... to the discrete-Bayes prediction")


class RegressionSummary(Record):
    study: Literal["regression"] = Field("regression", description="the study that wrote this summary")
    schema_version: Literal[2] = Field(2, description="the version of this layout (docs/outputs.md lists the changes)")
    name: str = Field(description="the config's name")
    seeds: list[int] = Field(description="the seeds run; numbers are means over them")
    ci_level: float = Field(description="level of every interval (analysis.ci_level)")
    task: dict[str, float | int] = Field(description="the regression task's settings (config task section)")
    ridge_lambda: float = Field(description="ridge's regularisation, sigma^2 / tau^2 (the Bayes-optimal one for the continuous family)")
    finetune_steps: list[int] = Field(description="the checkpoints scored (0 = the base)")
    gammas: list[float] = Field(description="the conjugate prompts' scales of y")
    small_k: int = Field(description="k at or below it counts as small (analysis.small_k)")
    loss_by_k: dict[str, dict[str, list[KLoss]]] = Field(description="family -> predictor -> MSE per k (gamma 1)")
    conjugate_loss_by_k: dict[str, dict[str, list[KLoss]]] = Field(description="family -> '<model>@<gamma>' -> MSE per k")
    finetune_effect: dict[str, Effect] = Field(description="family -> the fine-tuned model's MSE against the base's")
    trajectory: dict[str, list[StepLoss]] = Field(description="family -> MSE over k per fine-tuning step")
    agreement: dict[str, dict[str, list[Agreement]]] = Field(
        description="family -> predictor -> distance to ridge and to discrete Bayes per k")
    closeness: dict[str, Closeness] = Field(description="closeness measure -> damage against closeness to the discrete family")
    conjugate: dict[str, GammaRecovery] = Field(description="gamma -> recovery by conjugate prompts (X, gamma y)")
    findings: list[Finding] = Field(description="Kotha et al.'s regression claims, each decided by its interval")
    forgetscope_version: str = Field(description="the forgetscope version that wrote it")


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
