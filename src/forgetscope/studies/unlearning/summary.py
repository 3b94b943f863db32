"""The unlearning study's summary.json as pydantic models (`forgetscope schema unlearning`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from forgetscope.schema import Finding, Interval, Num, Record

Verdict = Literal["removed", "hidden", "uncertain", "not_unlearned", "no_control"]


class MeanCI(Record):
    mean: Num = Field(description="mean over seeds (a fraction, or nats for log-likelihoods)")
    ci: Interval = Field(description="its interval at ci_level [lo, hi]")


class TaskScore(MeanCI):
    task: str = Field(description="an lm-eval task of general_tasks (a group's subtasks each, as lm-eval names them)")
    metric: str = Field(description="the per-document metric averaged: general_tasks[].metric, else the first lm-eval "
                        "reports for the task")
    documents: int = Field(description="documents scored (each seed)")
    fraction: bool = Field(description="whether every document's value lies in [0, 1] (a fraction, as acc; else the "
                           "metric's own unit)")


class ProbeScores(Record):
    forget: MeanCI = Field(description="forget probe accuracy (fact world: the true value ranked first among the values and "
                           "'sorry'; a probe file: the true choice ranked first)")
    retain: MeanCI = Field(description="retain probe accuracy (fact world: the people kept, their facts)")
    general: MeanCI = Field(description="general probe accuracy (fact world: people outside forget and retain)")
    forget_l2: MeanCI | None = Field(description="the forget probe in the world's L2 (null: conjugate off)")
    forget_logprob: MeanCI = Field(description="the true answer's mean log-likelihood on the forget probe (nats)")
    general_tasks: list[TaskScore] = Field(description="general_tasks (lm-eval): each task's per-document metric, mean "
                                           "and interval as the probes' (empty: none configured)")


class AttackResult(Record):
    attack: str = Field(description="text, forget_folds, retain (relearning) or conjugate_l2, conjugate_leetspeak, "
                        "conjugate_piglatin (prompt-side)")
    attacked: Num = Field(description="R: the forget score after the attack (full budget; forget_folds: each held-out part)")
    control: Num = Field(description="R_O: the control oracle's forget score under the same attack (null: no oracle)")
    excess: Num = Field(description="R − R_O (null: no oracle)")
    ci: Interval = Field(description="the interval of the excess")
    label: Literal["removed", "hidden", "uncertain", "no_control"] = Field(
        description="hidden: excess above delta by its interval; removed: at or below delta; uncertain otherwise; "
        "no_control: no oracle, so neither can be said")
    recovery: MeanCI = Field(description="R − the unlearned model's forget score, paired by fact: what the attack brings "
                             "back (without a control it may include what the attack teaches from scratch)")
    recovered_share: Num = Field(description="(R − unlearned) / (base − unlearned); null when unlearning took nothing")
    base: Num = Field(description="the base's forget score under the same prompt (prompt-side attacks: the level to read "
                      "R against); null for relearning attacks (the base is not relearned)")


class ModelAudit(Record):
    name: str = Field(description="the audited model: 'oracle' (a second never-learned model: calibration), a method's "
                      "label, an unlearned folder's label or checkpoint-N")
    method: str = Field(description="oracle, ga, graddiff, npo, idk, folder or checkpoint")
    verdict: Verdict = Field(description="the verdict (verdict.py): not_unlearned; without an oracle no_control; else "
                             "hidden if any attack is hidden, removed if all are removed, uncertain otherwise")
    scores: ProbeScores = Field(description="before any attack")
    forgetting: MeanCI = Field(description="base − this model on the forget probe")
    retain_drop: MeanCI = Field(description="base − this model on the retain probe (utility lost)")
    general_drop: MeanCI = Field(description="base − this model on the general probe (utility lost)")
    general_task_drops: list[TaskScore] = Field(description="base − this model on each general task, paired by "
                                                "document (utility lost; empty: no general_tasks)")
    attacks: list[AttackResult] = Field(description="one per attack, in config order, then the conjugate prompt")


class CurvePoint(Record):
    model: str = Field(description="the relearned model (oracle-control: the control)")
    attack: str = Field(description="the relearning attack")
    step: int = Field(description="relearning steps (0: before)")
    forget: MeanCI = Field(description="forget score (the probed part)")
    retain: MeanCI = Field(description="retain score")


class UnlearningSummary(Record):
    study: Literal["unlearning"] = Field("unlearning", description="the study that wrote this summary")
    schema_version: Literal[3] = Field(3, description="the version of this layout (2: pretrained bases: no_control, "
                                       "recovery, base under prompt attacks, forget_items; control and forget_people nullable; "
                                       "3: general_tasks and general_task_drops, lm-eval tasks as general probes)")
    name: str = Field(description="the config's name")
    delta: float = Field(description="tolerance of the verdict")
    ci_level: float = Field(description="level of every interval (analysis.ci_level)")
    seeds: list[int] = Field(description="the seeds run; numbers are means over them")
    forget_people: int | None = Field(description="people in the forget set (fact world; null on a pretrained base)")
    forget_items: int = Field(description="items in the forget probe")
    relearn_steps: int = Field(description="the relearning budget (steps)")
    base: ProbeScores = Field(description="the base, before unlearning")
    control: ProbeScores | None = Field(description="the control oracle (never trained on the forget set); null: none given")
    models: list[ModelAudit] = Field(description="every audited model")
    findings: list[Finding] = Field(description="the calibration and the literature's claims, each decided by its interval")
    curves: list[CurvePoint] = Field(description="relearning curves: forget and retain score against relearning steps")
    forgetscope_version: str = Field(description="the forgetscope version that wrote it")
