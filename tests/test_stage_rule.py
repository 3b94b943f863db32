"""The stage rule (analysis/stage_rule.py) on hand-made numbers: each step of the point and interval
rules on both sides of δ, the two edge cases a user met on SmolLM2 (issue 26), saturation, and the
damaged control's record and sentence."""

import numpy as np
import pandas as pd
import pytest

from forgetscope.analysis.stage_rule import (
    EPS, control_sentences, damaged_control, interval_label, point_label, row_interval_label, saturate,
)
from forgetscope.schema import DamagedControl


# -- the two edge cases of issue 26, with its numbers ------------------------------------------
def test_lost_five_points_is_none_though_restoration_lowered_it_further():
    """Cloze step 4 lost 5.0 points (not more than δ = 5) and restoration lowered it 6.7 below the
    restored base: the old rule read "actual" from the gap alone; nothing was lost, so it is none."""
    B, F, R0, R = 0.85, 0.80, 0.85, 0.783
    assert B - F == pytest.approx(0.05) and R0 - R == pytest.approx(0.067)
    assert point_label(B, F, R, R0, 0.05) == "none"
    # by its intervals: the forgetting's interval reaches past δ, so it is not none but undecided
    assert interval_label((0.01, 0.09), (0.04, 0.094), B - R0, 0.05) == "uncertain"
    assert interval_label((-0.02, 0.05), (0.04, 0.094), B - R0, 0.05) == "none"


def test_recovered_nothing_is_uncertain_when_the_restored_base_fell_from_70_to_60():
    """Chat step 6 lost 15 points and restoration brought back nothing, yet it sat within δ of a
    restored base that had itself fallen from 70 to 60: the old rule read "pseudo"; the control is
    damaged, so the label is uncertain."""
    B, R0, F, R = 0.70, 0.60, 0.55, 0.55
    assert point_label(B, F, R, R0, 0.05) == "uncertain"
    assert interval_label((0.10, 0.20), (0.0, 0.04), B - R0, 0.05) == "uncertain"
    # the same checkpoint beside an intact control (68) is actual, by points and by intervals
    assert point_label(B, F, R, 0.68, 0.05) == "actual"
    assert interval_label((0.10, 0.20), (0.08, 0.18), B - 0.68, 0.05) == "actual"


# -- the point rule, each step --------------------------------------------------------------
@pytest.mark.parametrize(("B", "F", "R", "R0", "want"), [
    (0.9, 0.9, 0.5, 0.5, "none"),  # 1: nothing lost beats a damaged control and a gap
    (0.9, 0.86, 0.5, 0.9, "none"),
    (0.9, 0.5, 0.5, 0.8, "uncertain"),  # 2: control drop 10 > 5
    (0.9, 0.5, 0.84, 0.9, "actual"),  # 3: gap 6
    (0.9, 0.5, 0.86, 0.9, "pseudo"),  # 4
    (0.9, 0.5, 0.5, 0.86, "actual"),  # control drop 4 (intact), gap 36
])
def test_point_rule_steps(B, F, R, R0, want):
    assert point_label(B, F, R, R0, 0.05) == want
    got = point_label(np.array([B, 0.9]), np.array([F, 0.9]), np.array([R, 0.9]), np.array([R0, 0.9]), 0.05)
    assert list(got) == [want, "none"]


def test_point_rule_edges_at_delta():
    """Exactly δ (up to δ + EPS) is within δ, for the forgetting, the control drop and the gap; the
    next float above is beyond it."""
    edge = 0.25 + EPS
    above = float(np.nextafter(edge, 1.0))
    assert point_label(edge, 0.0, 0.0, edge, 0.25) == "none"
    assert point_label(above, 0.0, above, above, 0.25) == "pseudo"
    assert point_label(edge, -1.0, 0.0, edge, 0.25) == "pseudo"  # gap exactly δ
    assert point_label(above, -1.0, 0.0, above, 0.25) == "actual"
    assert point_label(edge, -1.0, -1.0, 0.0, 0.25) == "actual"  # control drop exactly δ: intact
    assert point_label(above, -1.0, -1.0, 0.0, 0.25) == "uncertain"
    assert point_label(0.9, 0.85, 0.5, 0.9, 0.05) == "none"  # 0.9 - 0.85 = 0.05000000000000004: still within


# -- the interval rule, each step -------------------------------------------------------------
@pytest.mark.parametrize(("f_ci", "g_ci", "drop", "want"), [
    ((-0.1, 0.05), (0.3, 0.5), 0.2, "none"),  # 1: forgetting's top at δ beats everything after
    ((0.02, 0.3), (0.3, 0.5), 0.0, "uncertain"),  # 2: forgetting's interval reaches δ
    ((0.05, 0.3), (-0.1, 0.0), 0.0, "uncertain"),  # its bottom exactly at δ is within δ
    ((0.1, 0.3), (0.3, 0.5), 0.06, "uncertain"),  # 3: damaged control
    ((0.1, 0.3), (-0.1, 0.0), 0.06, "uncertain"),
    ((0.1, 0.3), (0.3, 0.5), 0.05, "actual"),  # control drop exactly δ: intact; 4: gap above δ
    ((0.1, 0.3), (0.05, 0.5), 0.0, "uncertain"),  # gap's bottom at δ: not above
    ((0.1, 0.3), (-0.1, 0.05), -0.2, "pseudo"),  # 5: gap's top at δ (a restored base above the base is no damage)
    ((0.1, 0.3), (-0.1, 0.051), 0.0, "uncertain"),  # 6
    ((0.1, float("nan")), (-0.1, 0.0), 0.0, "pseudo"),  # an undefined top of a forgetting above δ decides nothing
    ((float("nan"), 0.3), (-0.1, 0.0), 0.0, "uncertain"),
    ((0.1, 0.3), (float("nan"), float("nan")), 0.0, "uncertain"),
])
def test_interval_rule_steps(f_ci, g_ci, drop, want):
    assert interval_label(f_ci, g_ci, drop, 0.05) == want


def test_interval_rule_reads_a_decomposition_row():
    """The control drop of a row is its seed-mean base minus restored base (point estimates)."""
    row = pd.Series({"forgetting_lo": 0.1, "forgetting_hi": 0.3, "gap_lo": -0.1, "gap_hi": 0.0,
                     "base": 0.70, "restored_base": 0.60, "base_lo": 0.69, "restored_base_hi": 0.70})
    assert row_interval_label(row, 0.05) == "uncertain"
    assert row_interval_label(row.replace({0.60: 0.66}), 0.05) == "pseudo"


def test_saturation_keeps_actual_only_when_every_larger_budget_agrees():
    assert saturate("actual", ["actual", "actual"]) == ("actual", True)
    assert saturate("actual", ["actual", "uncertain"]) == ("uncertain", False)
    assert saturate("actual", [None]) == ("uncertain", False)  # a larger budget without a row
    assert saturate("actual", []) == ("actual", None)
    assert saturate("pseudo", ["uncertain"]) == ("pseudo", None)
    assert saturate("none", ["actual"]) == ("none", None)


# -- the damaged control ----------------------------------------------------------------------
def test_damaged_control_record_and_sentence():
    assert damaged_control("cloze", "restored", 0.867, 0.82, 0.05) is None  # 4.7 points: intact
    assert damaged_control("cloze", "restored", 0.9, 0.85, 0.05) is None  # exactly δ: intact
    c = damaged_control("cloze", "restored", 0.867, 0.75, 0.05)
    assert c == DamagedControl(probe="cloze", restorer="restored", base=0.867, restored_base=0.75, drop=0.117)
    assert control_sentences([c], 0.05) == [
        "Restoration (restored) lowered the base itself on cloze from 86.7 to 75.0 (−11.7 points, more than δ = 5): "
        "the restoration recipe damages the model, so every pseudo/actual label that leans on it is uncertain; "
        "use fewer steps or a lower learning rate."]
    chat = damaged_control("chat", "restored", 0.70, 0.60, 0.05)
    x2 = damaged_control("cloze", "restored-x2", 0.867, 0.70, 0.05)
    lines = control_sentences([c, chat, x2], 0.05)
    assert len(lines) == 2  # one sentence per restorer
    assert lines[0].startswith("Restoration (restored) lowered the base itself on cloze from 86.7 to 75.0 (−11.7 points), "
                               "on chat from 70.0 to 60.0 (−10.0 points), each more than δ = 5: ")
    assert lines[1].startswith("Restoration (restored-x2) lowered the base itself on cloze from 86.7 to 70.0 (−16.7 points, ")
    assert control_sentences([], 0.05) == []
