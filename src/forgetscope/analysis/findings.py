"""Findings: each source study's claim, measured, with the interval that decides it.

A finding holds only when its interval lies entirely on the claim's side of the threshold, fails when
it lies entirely on the other side, and is uncertain otherwise. Every sentence the report states
about a study is derived from these verdicts, never from point estimates alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from forgetscope.analysis.stage_rule import EPS, within

Verdict = Literal["holds", "fails", "uncertain"]


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def interval_verdict(lo: float | None, hi: float | None, threshold: float, side: Literal["above", "below"]) -> Verdict:
    """`above`: the claim is value > threshold (holds when lo > threshold, fails when hi <= threshold);
    `below`: value < threshold (holds when hi < threshold, fails when lo >= threshold). An undefined
    bound (one seed, no value) decides nothing. Any other `side` is an error."""
    if side not in ("above", "below"):
        raise ValueError(f"side must be 'above' or 'below', not {side!r}")
    if _missing(lo) or _missing(hi):
        return "uncertain"
    if side == "above":
        return "holds" if lo > threshold + EPS else "fails" if hi <= threshold + EPS else "uncertain"
    return "holds" if hi < threshold - EPS else "fails" if lo >= threshold - EPS else "uncertain"


def all_of(verdicts: Sequence[Verdict]) -> Verdict:
    """A conjunction: holds when every part holds, fails when any part fails."""
    if any(v == "fails" for v in verdicts):
        return "fails"
    return "holds" if verdicts and all(v == "holds" for v in verdicts) else "uncertain"


def any_of(verdicts: Sequence[Verdict]) -> Verdict:
    """A disjunction ("some checkpoint shows it"): holds when one part holds, fails when all fail."""
    if any(v == "holds" for v in verdicts):
        return "holds"
    return "fails" if verdicts and all(v == "fails" for v in verdicts) else "uncertain"


def finding(id: str, claim: str, source: str, measure: str, value, ci, verdict: Verdict, evidence: str,
            unit: str = "") -> dict:
    """One finding record (forgetscope.schema.Finding)."""
    lo, hi = ci if ci is not None else (None, None)
    return {"id": id, "claim": claim, "source": source, "measure": measure, "unit": unit,
            "value": None if _missing(value) else float(value),
            "ci": [None if _missing(lo) else float(lo), None if _missing(hi) else float(hi)],
            "verdict": verdict, "evidence": evidence}


# -- trajectory (Zhang et al.) --------------------------------------------------------------------
ZHANG = "Zhang et al. (CCL 2024)"


def steps_text(steps: Sequence[int]) -> str:
    """"step 32" or "steps 104, 186": checkpoints named in a sentence."""
    return f"step {steps[0]}" if len(steps) == 1 else f"steps {', '.join(map(str, steps))}"


def trajectory_findings(checkpoints: Sequence[dict], delta: float, control=None) -> list[dict]:
    """From the primary probe's checkpoints (summary rows with label_ci and ci intervals): pseudo
    forgetting early, actual forgetting later, and pseudo before actual (the stage transition). Every
    verdict reads label_ci (analysis/stage_rule.py) and nothing else; `control` is the primary probe's
    DamagedControl, if restoration damaged it (named in the evidence of what it leaves undecided)."""
    pts = 100.0
    labels = [c["label_ci"] for c in checkpoints]
    pseudo = [c for c in checkpoints if c["label_ci"] == "pseudo"]
    actual = [c for c in checkpoints if c["label_ci"] == "actual"]
    damaged = (f"; restoration lowered the base itself from {pts * control.base:.1f} to {pts * control.restored_base:.1f}, "
               "so no checkpoint can be pseudo or actual by it") if control is not None else ""

    out = []
    if pseudo:
        worst = max(pseudo, key=lambda c: c["forgetting"])
        out.append(finding(
            "pseudo_forgetting", "Early in fine-tuning the knowledge probe drops, and brief restoration brings it back "
            "(pseudo forgetting: the format is lost, the knowledge kept).", ZHANG,
            "the largest forgetting among checkpoints labelled pseudo by their intervals", worst["forgetting"],
            worst["ci"]["forgetting"], "holds",
            f"step {worst['step']}: lost {pts * worst['forgetting']:.1f} points, restored to within δ of the restored base "
            f"(gap interval [{pts * worst['ci']['gap'][0]:.1f}, {pts * worst['ci']['gap'][1]:.1f}] ≤ {pts * delta:.0f}); "
            f"pseudo by interval at {steps_text([c['step'] for c in pseudo])}", unit="fraction"))
    else:
        verdict: Verdict = "fails" if all(lab in ("none", "actual") for lab in labels) else "uncertain"
        out.append(finding(
            "pseudo_forgetting", "Early in fine-tuning the knowledge probe drops, and brief restoration brings it back "
            "(pseudo forgetting: the format is lost, the knowledge kept).", ZHANG,
            "the largest forgetting among checkpoints labelled pseudo by their intervals", None, None, verdict,
            "no checkpoint is pseudo by its interval: every one is either actual or lost no more than δ"
            if verdict == "fails" else f"no checkpoint is pseudo by its interval (the intervals straddle δ){damaged}", unit="fraction"))
    if actual:
        first = actual[0]
        out.append(finding(
            "actual_forgetting", "Later in fine-tuning restoration no longer brings the score back (actual forgetting: "
            "knowledge lost).", ZHANG, "the restoration gap (restored base − restored checkpoint) at the first checkpoint "
            "labelled actual by its interval", first["gap_to_restored_base"],
            first["ci"]["gap"], "holds",
            f"actual by interval at {steps_text([c['step'] for c in actual])}", unit="fraction"))
    else:
        verdict = "fails" if all(lab in ("none", "pseudo") for lab in labels) else "uncertain"
        out.append(finding(
            "actual_forgetting", "Later in fine-tuning restoration no longer brings the score back (actual forgetting: "
            "knowledge lost).", ZHANG, "the restoration gap at the first checkpoint labelled actual by its interval",
            None, None, verdict, "no checkpoint is actual by its interval: every one is either pseudo or lost no more than δ"
            if verdict == "fails" else f"no checkpoint is actual by its interval{damaged}", unit="fraction"))
    out.append(_transition(checkpoints, pseudo, actual, delta, out))
    return out


def _transition(checkpoints, pseudo, actual, delta, found) -> dict:
    """Holds only when the label_ci sequence in step order, none and uncertain left out, reads
    pseudo…pseudo actual…actual; a pseudo after the first actual fails it."""
    claim = "Pseudo forgetting comes first and turns into actual forgetting: a stage transition during fine-tuning."
    measure = ("the transition step: the first checkpoint actual by its interval; its interval runs from the last "
               "checkpoint before it whose gap interval lies at or below δ")
    if pseudo and actual:
        first_actual = actual[0]["step"]
        late = [c["step"] for c in pseudo if c["step"] > first_actual]
        before = [c["step"] for c in checkpoints if c["step"] < first_actual and c["ci"]["gap"][1] is not None
                  and within(c["ci"]["gap"][1], delta)]
        lo = max(before) if before else None
        verdict: Verdict = "fails" if late else "holds"
        evidence = (f"a checkpoint pseudo by its interval ({steps_text(late)}) comes after the first actual one (step {first_actual})"
                    if late else f"pseudo by interval up to step {max(c['step'] for c in pseudo)}, actual from step {first_actual}")
        return finding("stage_transition", claim, ZHANG, measure, first_actual, [lo, first_actual], verdict, evidence, unit="step")
    parts = {f["id"]: f["verdict"] for f in found}
    verdict = "fails" if "fails" in parts.values() else "uncertain"
    return finding("stage_transition", claim, ZHANG, measure, actual[0]["step"] if actual else None, None, verdict,
                   "needs a checkpoint pseudo by its interval and a later one actual by its interval", unit="step")
