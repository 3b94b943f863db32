"""`forgetscope compare-runs`: two finished trajectory runs side by side; the table's numbers are the
summaries' numbers (read here from summary.json as plain JSON, not through the summary model)."""

import json

import pandas as pd
import pytest
from conftest import assert_one_line_error, run_cli, with_changes, write_yaml


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from conftest import SMOKE

    d = tmp_path_factory.mktemp("compare-runs")
    runs = []
    for name, lr in (("slow", 0.001), ("fast", 0.01)):
        cfg = with_changes(json.loads(json.dumps(SMOKE)), name=name, finetune__train__lr=lr, runtime__cache_dir=str(d / "cache"),
                           finetune__checkpoints={"steps": [5, 9]})  # two a run: two thirds of the smoke run's evaluation
        proc = run_cli("run", write_yaml(d / f"{name}.yaml", cfg), "--out", str(d / name), "-q")
        assert proc.returncode == 0, proc.stderr
        runs.append(d / name)
    return runs


def _expected(run) -> list[dict]:
    s = json.loads((run / "summary.json").read_text())
    return [{"run": run.name, "recipe": s["name"], "probe": s["probe"], "step": c["step"], "forgetting": c["forgetting"],
             "forgetting_lo": c["ci"]["forgetting"][0], "forgetting_hi": c["ci"]["forgetting"][1],
             "pseudo": c["recovered"], "pseudo_lo": c["ci"]["recovered"][0], "pseudo_hi": c["ci"]["recovered"][1],
             "actual": c["unrecovered"], "actual_lo": c["ci"]["unrecovered"][0], "actual_hi": c["ci"]["unrecovered"][1],
             "label": c["label_ci"]} for c in s["checkpoints"]]


def test_the_table_holds_each_summarys_numbers(two_runs, tmp_path):
    proc = run_cli("compare-runs", *two_runs, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "out" / "compare-runs.csv")
    expected = pd.DataFrame(_expected(two_runs[0]) + _expected(two_runs[1]))
    assert len(expected) == 4
    got = table[expected.columns].astype(object).where(table[expected.columns].notna(), None)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.astype(object).where(expected.notna(), None),
                                  check_dtype=False)
    assert table["target_gain"].isna().all()  # a trajectory run has no target probe: nothing is made up
    # the two runs differ (a table that repeated one run would pass the check of one of them only)
    assert list(table["forgetting"][:2]) != list(table["forgetting"][2:])
    assert (tmp_path / "out" / "compare-runs.png").read_bytes()[:4] == b"\x89PNG"


def test_printed_and_markdown_tables_show_points_and_every_finding(two_runs, tmp_path):
    proc = run_cli("compare-runs", *two_runs, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    s = json.loads((two_runs[1] / "summary.json").read_text())
    c = s["checkpoints"][-1]
    cell = f"{100 * c['unrecovered']:.1f} [{100 * c['ci']['unrecovered'][0]:.1f}, {100 * c['ci']['unrecovered'][1]:.1f}]"
    md = (tmp_path / "out" / "compare-runs.md").read_text()
    assert f"| fast | fast | {s['probe']} | {c['step']} | – |" in md and cell in md
    findings = pd.read_csv(tmp_path / "out" / "findings.csv")
    for run in two_runs:
        mine = json.loads((run / "summary.json").read_text())["findings"]
        rows = findings[findings["run"] == run.name]
        assert list(rows["id"]) == [f["id"] for f in mine] and list(rows["verdict"]) == [f["verdict"] for f in mine]
        assert len(mine) > 0


def test_a_folder_that_is_not_a_finished_run_is_one_line(two_runs, tmp_path):
    assert_one_line_error(run_cli("compare-runs", two_runs[0], tmp_path / "nowhere"), "nowhere", "no such run folder")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("compare-runs", tmp_path / "empty"), "not a forgetscope run folder")
