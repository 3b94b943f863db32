"""The trajectory analysis and report on a user's kind of run (issue 26): three checkpoints at steps
2, 4, 6, the two label edge cases with the numbers a user met, a damaged control named in one
sentence, bars that cannot contradict the label, lost items of every probe, captions that describe
the user's data, and no empty result files."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from forgetscope.analysis.stage_rule import point_label
from forgetscope.report import trajectory as report
from forgetscope.report.figures import COLORS
from forgetscope.schema import TrajectorySummary
from forgetscope.store import RunStore
from forgetscope.studies.trajectory.s7_results_analyze import damaged_controls, probe_summary, write_tables

DELTA = 0.05
STATS = ("score", "restored", "forgetting", "recovered", "unrecovered", "gap", "base", "restored_base")


def agg_rows(probe: str, B: float, R0: float, steps: dict) -> list[dict]:
    """decomposition.parquet rows of one probe under `restored`: steps = {step: (F, R, forgetting CI, gap CI)};
    every other interval is the value ± 0.02."""
    rows = []
    for step, (F, R, f_ci, g_ci) in {0: (B, R0, (0.0, 0.0), (0.0, 0.0)), **steps}.items():
        v = {"score": F, "restored": R, "forgetting": B - F, "recovered": R - F, "unrecovered": B - R, "gap": R0 - R,
             "base": B, "restored_base": R0}
        row = {"probe": probe, "restorer": "restored", "step": step, **v, "n_seeds": 1, "ci_method": "items",
               "label": point_label(B, F, R, R0, DELTA)}
        row["label_by_seed"] = [row["label"]]
        for k in STATS:
            row[f"{k}_lo"], row[f"{k}_hi"] = v[k] - 0.02, v[k] + 0.02
        (row["forgetting_lo"], row["forgetting_hi"]), (row["gap_lo"], row["gap_hi"]) = f_ci, g_ci
        rows.append(row)
    return rows


# cloze (control intact, 85 -> 85): step 2 lost 1 point and restoration lowered it 4 more (recovered < 0);
# step 4 lost 5.0 points and restoration lowered it 6.7 below the restored base; step 6 pseudo, step 8 actual.
# chat: the restored base fell from 70 to 60; step 6 lost 15 and recovered nothing.
AGG = pd.DataFrame(
    agg_rows("cloze", 0.85, 0.85, {2: (0.84, 0.80, (-0.01, 0.03), (0.03, 0.07)), 4: (0.80, 0.783, (0.0, 0.05), (0.04, 0.094)),
                                   6: (0.60, 0.84, (0.2, 0.3), (-0.01, 0.03)), 8: (0.50, 0.60, (0.3, 0.4), (0.2, 0.3))})
    + agg_rows("chat", 0.70, 0.60, {2: (0.70, 0.60, (-0.02, 0.02), (-0.02, 0.02)), 4: (0.68, 0.60, (-0.01, 0.06), (-0.02, 0.02)),
                                    6: (0.55, 0.55, (0.10, 0.20), (0.0, 0.04)), 8: (0.55, 0.55, (0.10, 0.20), (0.0, 0.04))}))


def summary_of(agg: pd.DataFrame) -> TrajectorySummary:
    probes = {p: probe_summary(agg, p, DELTA, "restored", []) for p in ("chat", "cloze")}
    damaged = damaged_controls(agg, ["chat", "cloze"], ["restored"], DELTA)
    head = probes["cloze"]
    steps = [0, *(c["step"] for c in head["checkpoints"])]
    band = {k: 0.1 for k in ("kl", "unshifted", "marginal", "shifted")}
    return TrajectorySummary.model_validate({
        "name": "user", "probe": "cloze", "delta": DELTA, "ci_level": 0.95, "seeds": [0],
        "restorers": [{"condition": "restored", "name": "lm_training", "options": {}, "budget": 1.0, "title": "LM training",
                       "describe": "5 steps of LM training"}],
        "base": head["base"], "restored_base": head["restored_base"], "transition_step": head["transition_step"], "ci": head["ci"],
        "findings": [], "damaged_controls": list(damaged.values()), "checkpoints": head["checkpoints"], "restoration_curve": [],
        "probes": probes, "rates": {}, "lm_eval": [], "forgetscope_version": "test",
        "pattern_shift": [{"format": "chat", "step": s, **band, **{f"{k}_ci": [None, None] for k in band}} for s in steps],
        "bits_per_byte": [{"condition": "checkpoint", "step": s, "language": "all", "bits_per_byte": 1.0, "ci": [None, None]}
                          for s in steps],
    })


def test_the_two_edge_cases_through_the_analysis():
    s = summary_of(AGG)
    cloze = {c.step: c for c in s.probes["cloze"].checkpoints}
    chat = {c.step: c for c in s.probes["chat"].checkpoints}
    # lost 5.0 points, restoration lowered it further (gap 6.7): none, not actual
    assert cloze[4].forgetting == pytest.approx(0.05) and cloze[4].gap_to_restored_base == pytest.approx(0.067)
    assert (cloze[4].label, cloze[4].label_ci) == ("none", "none")
    assert (cloze[6].label_ci, cloze[8].label_ci) == ("pseudo", "actual")
    # recovered nothing beside a restored base that fell from 70 to 60: uncertain, not pseudo
    assert chat[6].recovered == 0 and (chat[6].label, chat[6].label_ci) == ("uncertain", "uncertain")
    assert (chat[2].label_ci, chat[4].label_ci) == ("none", "uncertain")  # nothing lost stays none; a straddle stays uncertain
    assert [c.model_dump() for c in s.damaged_controls] == [
        {"probe": "chat", "restorer": "restored", "base": 0.7, "restored_base": 0.6, "drop": pytest.approx(0.1)}]


def test_the_report_says_the_damaged_control_in_one_sentence():
    lines = report.verdict(summary_of(AGG))
    want = ("Restoration (restored) lowered the base itself on chat from 70.0 to 60.0 (−10.0 points, more than δ = 5): the "
            "restoration recipe damages the model, so every pseudo/actual label that leans on it is uncertain; use fewer "
            "steps or a lower learning rate.")
    assert lines[1] == want
    intact = summary_of(AGG[AGG["probe"] == "cloze"].pipe(lambda d: pd.concat([d, d.assign(probe="chat")])))
    assert not intact.damaged_controls and not any("lowered the base itself" in x for x in report.verdict(intact))


@pytest.fixture
def figures(monkeypatch):
    """The report's figures as matplotlib figures, not PNG data."""
    monkeypatch.setattr(report, "to_data_uri", lambda fig: fig)


def test_bars_cannot_contradict_the_label(figures):
    """Only the checkpoint actual by its interval (step 8) gets a red bar; step 2, labelled none with a
    negative recovered part, is drawn below 0 in green and grey; each bar carries its label."""
    ps = summary_of(AGG).probes["cloze"]
    ax = report.decomposition_figure(ps).axes[0]
    red = to_rgba(COLORS["actual"])
    bars = [p for p in ax.patches if p.get_width() > 0 and p.get_height() != 0]
    assert [round(p.get_x() + p.get_width() / 2) for p in bars if p.get_facecolor() == red] == [3]  # the 4th: step 8
    step2 = [p for p in bars if round(p.get_x() + p.get_width() / 2) == 0]
    assert {(p.get_facecolor() == to_rgba(COLORS["restored"]), p.get_y() + min(p.get_height(), 0) < 0) for p in step2} >= {(True, True)}
    assert [t.get_text() for t in ax.texts] == ["none", "none", "pseudo", "actual"]


def test_bars_of_a_probe_that_lost_nothing_keep_a_readable_axis(figures):
    """A probe whose every part is 0 drew its axis scaled to 1e-17 (float noise); it now spans ±2.5 points."""
    ps = summary_of(AGG).probes["cloze"]
    flat = ps.model_copy(update={"checkpoints": [c.model_copy(update={"forgetting": 0.0, "recovered": 0.0, "unrecovered": 0.0,
                                                                     "ci": c.ci.model_copy(update={"forgetting": [0.0, 0.0]})})
                                                for c in ps.checkpoints]})
    lo, hi = report.decomposition_figure(flat).axes[0].get_ylim()
    assert lo <= -0.025 and hi >= 0.025
    lo, hi = report.decomposition_figure(ps).axes[0].get_ylim()  # real parts keep their own scale
    assert hi - lo > 0.05


def test_step_axes_read_the_checkpoints_of_a_three_checkpoint_run(figures):
    agg = AGG[AGG["step"] <= 6]
    s = summary_of(agg)
    fig = report.pattern_figure(s)
    fig.canvas.draw()
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()] == ["0", "2", "4", "6"]
    for fig in (report.trajectory_figure(s.probes["cloze"], "t", s), report.probes_figure(s)):
        fig.canvas.draw()
        for ax in fig.axes:
            assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()] == ["2", "4", "6"]


def _items(rows):
    return pd.DataFrame([{"seed": 0, "condition": c, "step": st, "item_id": i, "probe": p, "score": sc, "output": f"{p}-{i}-{c}-{st}"}
                         for p, c, st, i, sc in rows])


def test_items_lost_for_every_probe_and_a_report_on_the_users_data(tmp_path):
    """Lost items of each probe at its worst checkpoint (the primary first); captions name the user's
    held-out text and prompts; a run folder without per_item.parquet (no rows) still reports."""
    s = summary_of(AGG)
    rows = []
    for p, worst in (("cloze", 8), ("chat", 6)):
        for i in ("a", "b"):
            rows += [(p, "checkpoint", 0, i, 1.0), (p, "checkpoint", worst, i, 0.0 if i == "a" else 1.0),
                     (p, "restored", worst, i, 1.0)]
    items = _items(rows)
    lost = report.lost_items(items, s)
    assert [(g["probe"], g["step"], [r["item"] for r in g["rows"]]) for g in lost] == [("cloze", 8, ["a"]), ("chat", 6, ["a"])]
    assert lost[1]["rows"][0] == {"item": "a", "base": "chat-a-checkpoint-0", "checkpoint": "chat-a-checkpoint-6",
                                  "restored": "chat-a-restored-6", "restored_ok": True}

    store = RunStore(tmp_path)
    store.config_path.write_text("eval:\n  heldout_text: my/heldout.jsonl\n  pattern_prompts: {path: json, split: train}\n")
    write_tables(store.results_dir, {"items": items, "per_item": pd.DataFrame(), "train_log": pd.DataFrame()})
    assert sorted(p.name for p in store.results_dir.iterdir()) == ["items.parquet"]  # no empty files
    ctx = report.trajectory_context(store, s)
    assert ctx["sources"] == {"heldout_text": "my/heldout.jsonl", "pattern_prompts": "json train"} and ctx["fig_items"] is None
    from forgetscope.report.page import _env

    html = _env.get_template("trajectory.html.j2").render(**ctx, findings_table="", config_yaml="", run_dir=str(tmp_path))
    assert "the held-out text of my/heldout.jsonl" in html and "the prompts of json train" in html
    assert "biographies" not in html and "fact world" not in html
    assert "Items lost: cloze at step 8" in html and "Items lost: chat at step 6" in html
    assert "lowered the base itself on chat from 70.0 to 60.0" in html

    store.config_path.write_text("eval:\n  heldout_text: world\n")
    world = report.trajectory_context(store, s)
    assert world["sources"] == {"heldout_text": None, "pattern_prompts": None}


def test_a_table_an_earlier_analysis_wrote_is_removed_when_it_has_no_rows(tmp_path):
    write_tables(tmp_path, {"train_log": pd.DataFrame({"step": [1], "loss": [2.0]})})
    assert (tmp_path / "train_log.parquet").stat().st_size > 0
    write_tables(tmp_path, {"train_log": pd.DataFrame(columns=["step", "loss"])})
    assert not (tmp_path / "train_log.parquet").exists()


def test_run_and_compare_print_the_damaged_control_once(capsys):
    """`run`, `reanalyze` and `compare` print the trajectory table, then the sentence (once)."""
    from forgetscope.cli_eval import print_summary

    print_summary(summary_of(AGG))
    text = " ".join(capsys.readouterr().out.split())
    assert text.count("Restoration (restored) lowered the base itself on chat from 70.0 to 60.0 (−10.0 points, more than δ = 5)") == 1
    intact = summary_of(AGG[AGG["probe"] == "cloze"].pipe(lambda d: pd.concat([d, d.assign(probe="chat")])))
    print_summary(intact)
    assert "lowered the base itself" not in capsys.readouterr().out
