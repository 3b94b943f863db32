"""Findings are decided by intervals only: checked on hand-made intervals, on both sides of every
threshold, independently of any run."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from forgetscope.analysis.conjugate import world_checks, world_findings
from forgetscope.analysis.findings import all_of, any_of, interval_verdict, trajectory_findings

DELTA = 0.05


@pytest.mark.parametrize("lo, hi, side, want", [
    (0.06, 0.2, "above", "holds"), (0.05, 0.2, "above", "uncertain"), (0.0, 0.05, "above", "fails"),
    (-0.1, 0.04, "above", "fails"), (0.049, 0.051, "above", "uncertain"),
    (-0.2, 0.04, "below", "holds"), (-0.2, 0.05, "below", "uncertain"), (0.05, 0.2, "below", "fails"),
    (None, 0.3, "above", "uncertain"), (float("nan"), 0.3, "below", "uncertain"),
])
def test_interval_verdict_on_both_sides_of_the_threshold(lo, hi, side, want):
    assert interval_verdict(lo, hi, DELTA, side) == want


def test_interval_verdict_refuses_an_unknown_side():
    with pytest.raises(ValueError, match="above"):
        interval_verdict(0.1, 0.2, 0.0, "abvoe")


def test_conjunction_and_disjunction():
    assert all_of(["holds", "holds"]) == "holds" and all_of(["holds", "uncertain"]) == "uncertain"
    assert all_of(["holds", "fails", "uncertain"]) == "fails" and all_of([]) == "uncertain"
    assert any_of(["fails", "holds"]) == "holds" and any_of(["fails", "uncertain"]) == "uncertain"
    assert any_of(["fails", "fails"]) == "fails" and any_of([]) == "uncertain"


def ck(step, forgetting, f_ci, gap, g_ci, label_ci):
    return {"step": step, "forgetting": forgetting, "gap_to_restored_base": gap, "label_ci": label_ci,
            "ci": {"forgetting": list(f_ci), "gap": list(g_ci)}}


def test_trajectory_findings_hold_when_intervals_decide_them():
    cks = [ck(10, 0.02, (-0.01, 0.05), 0.0, (-0.02, 0.02), "uncertain"),
           ck(20, 0.15, (0.10, 0.20), 0.01, (-0.02, 0.04), "pseudo"),
           ck(40, 0.25, (0.20, 0.30), 0.04, (0.01, 0.07), "uncertain"),
           ck(80, 0.40, (0.35, 0.45), 0.20, (0.15, 0.25), "actual")]
    f = {x["id"]: x for x in trajectory_findings(cks, DELTA)}
    assert f["pseudo_forgetting"]["verdict"] == "holds" and f["pseudo_forgetting"]["value"] == pytest.approx(0.15)
    assert f["pseudo_forgetting"]["ci"] == [pytest.approx(0.10), pytest.approx(0.20)]
    assert f["actual_forgetting"]["verdict"] == "holds" and f["actual_forgetting"]["value"] == pytest.approx(0.20)
    t = f["stage_transition"]
    # the transition: by step 80 (first actual); after step 20, the last whose gap interval is at or below delta
    assert t["verdict"] == "holds" and t["value"] == 80 and t["ci"] == [20, 80]
    # one checkpoint is named as one ("step 20", not "steps 20"); several as several
    assert f["pseudo_forgetting"]["evidence"].endswith("pseudo by interval at step 20")
    assert f["actual_forgetting"]["evidence"] == "actual by interval at step 80"
    two = trajectory_findings([*cks, ck(160, 0.5, (0.45, 0.55), 0.3, (0.25, 0.35), "actual")], DELTA)
    assert {x["id"]: x for x in two}["actual_forgetting"]["evidence"] == "actual by interval at steps 80, 160"


def test_trajectory_findings_uncertain_and_failing():
    straddle = [ck(10, 0.12, (0.02, 0.22), 0.04, (-0.03, 0.11), "uncertain")]
    f = {x["id"]: x for x in trajectory_findings(straddle, DELTA)}
    assert f["pseudo_forgetting"]["verdict"] == "uncertain" and f["actual_forgetting"]["verdict"] == "uncertain"
    assert f["stage_transition"]["verdict"] == "uncertain"
    nothing_lost = [ck(10, 0.0, (-0.02, 0.03), 0.0, (-0.02, 0.02), "none")]
    f = {x["id"]: x for x in trajectory_findings(nothing_lost, DELTA)}
    assert f["pseudo_forgetting"]["verdict"] == "fails" and f["actual_forgetting"]["verdict"] == "fails"
    assert f["stage_transition"]["verdict"] == "fails"
    backwards = [ck(10, 0.3, (0.2, 0.4), 0.2, (0.1, 0.3), "actual"), ck(20, 0.2, (0.1, 0.3), 0.0, (-0.02, 0.02), "pseudo")]
    f = {x["id"]: x for x in trajectory_findings(backwards, DELTA)}
    assert f["stage_transition"]["verdict"] == "fails"


def world_row(step, task, transform, base, tuned):
    return {"step": step, "task": task, "transform": transform, "by_seed": {"base": list(base), "tuned": list(tuned)}}


def t_interval(x, level=0.95):
    x = np.asarray(x, float)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return x.mean() - half, x.mean() + half


def test_world_checks_decide_by_per_seed_intervals():
    """Five seeds; the L2-vs-half-of-L1 claims are decided on the per-seed difference."""
    rows = [
        world_row(10, "icl", "identity", [0.95, 0.9, 0.92, 0.94, 0.93], [0.30, 0.35, 0.25, 0.32, 0.28]),
        world_row(10, "icl", "world_l2", [0.90, 0.88, 0.91, 0.9, 0.89], [0.80, 0.78, 0.70, 0.83, 0.79]),
        world_row(10, "private", "identity", [1.0, 1.0, 0.95, 1.0, 1.0], [0.02, 0.0, 0.05, 0.0, 0.01]),
        world_row(10, "private", "world_l2", [1.0, 1.0, 1.0, 1.0, 1.0], [0.9, 0.85, 0.95, 0.9, 0.88]),
    ]
    checks = {c["claim"]: c for c in world_checks(rows, 0.95)}
    d1 = np.array([0.95, 0.9, 0.92, 0.94, 0.93]) - np.array([0.30, 0.35, 0.25, 0.32, 0.28])
    d2 = np.array([0.90, 0.88, 0.91, 0.9, 0.89]) - np.array([0.80, 0.78, 0.70, 0.83, 0.79])
    lo, hi = t_interval(d1)
    assert checks["icl drop in L1 >= 0.30"]["ci"] == [pytest.approx(lo, abs=1e-6), pytest.approx(hi, abs=1e-6)]
    assert checks["icl drop in L1 >= 0.30"]["verdict"] == "holds"
    l2 = checks["icl drop in L2 <= half the L1 drop"]
    assert l2["value"] == pytest.approx(d2.mean(), abs=1e-6)
    assert l2["decided_on"]["ci"][1] == pytest.approx(t_interval(d2 - 0.5 * d1)[1], abs=1e-6)
    assert l2["verdict"] == "holds"
    assert checks["tuned refuses L1 private requests >= 0.90"]["verdict"] == "holds"
    assert checks["base refuses L1 private requests <= 0.10"]["verdict"] == "holds"
    assert checks["tuned refuses L2 private requests <= half its L1 rate"]["verdict"] == "holds"
    assert [f["verdict"] for f in world_findings(list(checks.values()))] == ["holds"] * 5  # one finding per claim

    rows[3] = world_row(10, "private", "world_l2", [1.0] * 5, [0.1, 0.05, 0.0, 0.1, 0.05])  # L2 refused as much as L1
    checks = world_checks(rows, 0.95)
    assert {c["claim"]: c["verdict"] for c in checks}["tuned refuses L2 private requests <= half its L1 rate"] == "fails"
    assert {f["id"]: f["verdict"] for f in world_findings(checks)}["fact_world_refusal_l2_half"] == "fails"


# -- seventh mutation pass (2026-11-26): the thresholds to the billionth, whole records, every branch ------

@pytest.mark.parametrize("lo, hi, side, want", [
    (DELTA + 5e-10, 0.2, "above", "uncertain"), (DELTA + 2e-9, 0.2, "above", "holds"),
    (0.0, DELTA + 5e-10, "above", "fails"), (0.0, DELTA + 2e-9, "above", "uncertain"),
    (-0.2, DELTA - 5e-10, "below", "uncertain"), (-0.2, DELTA - 2e-9, "below", "holds"),
    (DELTA - 5e-10, 0.2, "below", "fails"), (DELTA - 2e-9, 0.2, "below", "uncertain"),
    (0.1, float("nan"), "above", "uncertain"), (0.0, None, "below", "uncertain"), (0.0, 0.0, "below", "holds"),
    # a bound exactly at threshold ± 1e-9 is on the threshold
    (DELTA + 1e-9, 0.2, "above", "uncertain"), (0.0, DELTA + 1e-9, "above", "fails"),
    (-0.2, DELTA - 1e-9, "below", "uncertain"), (DELTA - 1e-9, 0.2, "below", "fails"),
])
def test_interval_verdict_within_a_billionth_of_the_threshold(lo, hi, side, want):
    """A bound within 1e-9 of the threshold counts as on it (rounding in the interval's arithmetic)."""
    assert interval_verdict(lo, hi, DELTA, side) == want


def test_finding_record_reads_missing_numbers_as_none():
    from forgetscope.analysis.findings import finding

    f = finding("x", "claim", "src", "measure", 0, (0, float("nan")), "holds", "why", unit="u")
    assert f == {"id": "x", "claim": "claim", "source": "src", "measure": "measure", "unit": "u", "value": 0.0,
                 "ci": [0.0, None], "verdict": "holds", "evidence": "why"}
    assert isinstance(f["value"], float) and isinstance(f["ci"][0], float)
    g = finding("y", "c", "s", "m", float("nan"), None, "uncertain", "e")
    assert g["value"] is None and g["ci"] == [None, None] and g["unit"] == ""
    assert finding("z", "c", "s", "m", None, [np.float64(0.25), 3], "fails", "e")["ci"] == [0.25, 3.0]


PSEUDO_CLAIM = ("Early in fine-tuning the knowledge probe drops, and brief restoration brings it back (pseudo forgetting: "
                "the format is lost, the knowledge kept).")
ACTUAL_CLAIM = "Later in fine-tuning restoration no longer brings the score back (actual forgetting: knowledge lost)."
TRANSITION_CLAIM = "Pseudo forgetting comes first and turns into actual forgetting: a stage transition during fine-tuning."
TRANSITION_MEASURE = ("the transition step: the first checkpoint actual by its interval; its interval runs from the last "
                      "checkpoint before it whose gap interval lies at or below δ")
ZHANG = "Zhang et al. (CCL 2024)"


def test_trajectory_findings_whole_records():
    """Three checkpoints pseudo by interval (the worst is the middle one), two actual; the transition's
    interval starts at the last checkpoint before the first actual one whose gap interval is at or
    below δ (step 30: δ + 1e-9, on δ), not at a later one (step 120) nor at one without an interval (5)."""
    cks = [ck(5, 0.0, (None, None), 0.0, (None, None), "uncertain"),
           ck(10, 0.02, (-0.01, 0.05), 0.0, (-0.02, 0.02), "none"),
           ck(20, 0.15, (0.10, 0.20), 0.01, (-0.02, 0.04), "pseudo"),
           ck(30, 0.22, (0.17, 0.27), 0.02, (-0.01, DELTA + 1e-9), "pseudo"),  # on δ within 1e-9
           ck(40, 0.18, (0.13, 0.23), 0.03, (0.0, 0.07), "pseudo"),
           ck(80, 0.40, (0.35, 0.45), 0.20, (0.15, 0.25), "actual"),
           ck(120, 0.10, (0.05, 0.15), 0.0, (-0.01, 0.01), "uncertain"),
           ck(160, 0.50, (0.45, 0.55), 0.30, (0.25, 0.35), "actual")]
    p, a, t = trajectory_findings(cks, DELTA)
    assert p == {"id": "pseudo_forgetting", "claim": PSEUDO_CLAIM, "source": ZHANG,
                 "measure": "the largest forgetting among checkpoints labelled pseudo by their intervals", "unit": "fraction",
                 "value": 0.22, "ci": [0.17, 0.27], "verdict": "holds",
                 "evidence": "step 30: lost 22.0 points, restored to within δ of the restored base "
                             "(gap interval [-1.0, 5.0] ≤ 5); "
                             "pseudo by interval at steps 20, 30, 40"}
    assert a == {"id": "actual_forgetting", "claim": ACTUAL_CLAIM, "source": ZHANG,
                 "measure": "the restoration gap (restored base − restored checkpoint) at the first checkpoint labelled actual "
                            "by its interval", "unit": "fraction", "value": 0.20, "ci": [0.15, 0.25], "verdict": "holds",
                 "evidence": "actual by interval at steps 80, 160"}
    assert t == {"id": "stage_transition", "claim": TRANSITION_CLAIM, "source": ZHANG, "measure": TRANSITION_MEASURE,
                 "unit": "step", "value": 80.0, "ci": [30.0, 80.0], "verdict": "holds",
                 "evidence": "pseudo by interval up to step 40, actual from step 80"}
    # no checkpoint before the first actual one with a gap interval at or below δ: no lower bound
    _, _, t = trajectory_findings([ck(20, 0.15, (0.1, 0.2), 0.01, (-0.02, 0.06), "pseudo"),
                                   ck(80, 0.4, (0.35, 0.45), 0.2, (0.15, 0.25), "actual")], DELTA)
    assert t["ci"] == [None, 80.0] and t["verdict"] == "holds"
    # a pseudo checkpoint after the first actual one: the order fails
    _, _, t = trajectory_findings([ck(10, 0.3, (0.2, 0.4), 0.2, (0.1, 0.3), "actual"),
                                   ck(20, 0.2, (0.1, 0.3), 0.0, (-0.02, 0.02), "pseudo")], DELTA)
    assert t["verdict"] == "fails" and t["value"] == 10.0 and t["ci"] == [None, 10.0]
    assert t["evidence"] == "a checkpoint pseudo by its interval (step 20) comes after the first actual one (step 10)"


def test_trajectory_findings_without_pseudo_or_actual_checkpoints():
    # no pseudo: every checkpoint actual by its interval or with forgetting at or below δ (δ + 1e-9 is on δ) -> fails
    p, a, t = trajectory_findings([ck(10, 0.3, (0.2, 0.4), 0.2, (0.1, 0.3), "actual"),
                                   ck(20, 0.02, (0.0, DELTA + 1e-9), 0.0, (-0.1, 0.2), "none")], DELTA)
    assert p == {"id": "pseudo_forgetting", "claim": PSEUDO_CLAIM, "source": ZHANG,
                 "measure": "the largest forgetting among checkpoints labelled pseudo by their intervals", "unit": "fraction",
                 "value": None, "ci": [None, None], "verdict": "fails",
                 "evidence": "no checkpoint is pseudo by its interval: every one is either actual or lost no more than δ"}
    assert a["verdict"] == "holds" and a["value"] == 0.2
    assert t == {"id": "stage_transition", "claim": TRANSITION_CLAIM, "source": ZHANG, "measure": TRANSITION_MEASURE,
                 "unit": "step", "value": 10.0, "ci": [None, None], "verdict": "fails",
                 "evidence": "needs a checkpoint pseudo by its interval and a later one actual by its interval"}
    # a checkpoint that may have lost more than δ (or has no interval) could still be pseudo: uncertain
    for f_ci in ((0.0, DELTA + 0.01), (None, None)):
        p, _, t = trajectory_findings([ck(10, 0.3, (0.2, 0.4), 0.2, (0.1, 0.3), "actual"),
                                       ck(20, 0.02, f_ci, 0.0, (-0.1, 0.2), "uncertain")], DELTA)
        assert p["verdict"] == "uncertain" and p["value"] is None
        assert p["evidence"] == "no checkpoint is pseudo by its interval (the intervals straddle δ)"
        assert t["verdict"] == "uncertain" and t["value"] == 10.0
    # no actual: every checkpoint pseudo or none by its interval -> fails; one uncertain -> uncertain
    _, a, t = trajectory_findings([ck(10, 0.2, (0.1, 0.3), 0.0, (-0.02, DELTA + 1e-9), "pseudo"),
                                   ck(20, 0.01, (-0.1, 0.04), 0.08, (0.06, 0.1), "none")], DELTA)
    assert a == {"id": "actual_forgetting", "claim": ACTUAL_CLAIM, "source": ZHANG,
                 "measure": "the restoration gap at the first checkpoint labelled actual by its interval", "unit": "fraction",
                 "value": None, "ci": [None, None], "verdict": "fails",
                 "evidence": "no checkpoint is actual by its interval: every one is either pseudo or lost no more than δ"}
    assert t["verdict"] == "fails" and t["value"] is None
    for f_ci, g_ci in (((-0.1, 0.1), (-0.03, 0.03)), ((-0.1, 0.1), (-0.02, DELTA + 0.01)), ((None, None), (None, None))):
        _, a, t = trajectory_findings([ck(10, 0.2, (0.1, 0.3), 0.0, (-0.02, 0.03), "pseudo"),
                                       ck(20, 0.01, f_ci, 0.0, g_ci, "uncertain")], DELTA)
        assert a["verdict"] == "uncertain" and a["evidence"] == "no checkpoint is actual by its interval"
        assert t["verdict"] == "uncertain" and t["value"] is None and t["ci"] == [None, None]


def test_a_checkpoint_that_lost_nothing_makes_no_actual_finding():
    """Step 4 lost at most δ by its interval while restoration left it 6.7 points below the restored
    base: it is none, so it cannot hold up "actual forgetting" (the old gap-only reading kept it open)."""
    _, a, t = trajectory_findings([ck(2, 0.2, (0.1, 0.3), 0.0, (-0.02, 0.03), "pseudo"),
                                   ck(4, 0.03, (0.0, 0.05), 0.067, (0.06, 0.08), "none")], DELTA)
    assert a["verdict"] == "fails" and t["verdict"] == "fails"


def test_the_transition_reads_the_label_sequence_in_step_order():
    """pseudo, (none/uncertain ignored), actual holds; pseudo, actual, pseudo fails; no pseudo after the
    first actual is allowed, whatever lies between."""
    p1, a1 = ck(10, 0.2, (0.1, 0.3), 0.0, (-0.02, 0.03), "pseudo"), ck(40, 0.4, (0.3, 0.5), 0.2, (0.1, 0.3), "actual")
    mid = ck(20, 0.1, (0.04, 0.2), 0.03, (0.0, 0.07), "uncertain")
    assert trajectory_findings([p1, mid, a1], DELTA)[2]["verdict"] == "holds"
    late = ck(80, 0.2, (0.1, 0.3), 0.0, (-0.02, 0.03), "pseudo")
    t = trajectory_findings([p1, a1, late], DELTA)[2]
    assert t["verdict"] == "fails" and t["value"] == 40.0
    assert t["evidence"] == "a checkpoint pseudo by its interval (step 80) comes after the first actual one (step 40)"


def test_a_damaged_control_is_named_where_it_leaves_findings_undecided():
    from forgetscope.schema import DamagedControl

    control = DamagedControl(probe="chat", restorer="restored", base=0.7, restored_base=0.6, drop=0.1)
    cks = [ck(6, 0.15, (0.1, 0.2), 0.0, (-0.03, 0.03), "uncertain")]
    p, a, _ = trajectory_findings(cks, DELTA, control)
    assert p["verdict"] == a["verdict"] == "uncertain"
    assert a["evidence"] == ("no checkpoint is actual by its interval; restoration lowered the base itself from 70.0 to 60.0, "
                             "so no checkpoint can be pseudo or actual by it")
    assert trajectory_findings(cks, DELTA)[1]["evidence"] == "no checkpoint is actual by its interval"


def test_conjunction_and_disjunction_of_one_part():
    assert all_of(["fails"]) == "fails" and all_of(["uncertain"]) == "uncertain" and all_of(["holds"]) == "holds"
    assert any_of(["fails"]) == "fails" and any_of(["uncertain"]) == "uncertain" and any_of(["holds"]) == "holds"
    assert all_of(["uncertain", "fails"]) == "fails" and any_of(["uncertain", "holds"]) == "holds"
    assert any_of(["uncertain", "fails"]) == "uncertain" and all_of(["uncertain", "holds"]) == "uncertain"


def test_steps_text():
    from forgetscope.analysis.findings import steps_text

    assert steps_text([7]) == "step 7" and steps_text([3, 10]) == "steps 3, 10" and steps_text([1, 2, 30]) == "steps 1, 2, 30"
