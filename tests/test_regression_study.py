"""The regression study end to end through the CLI on a tiny config: outputs and the summary schema,
same config = same numbers, a rerun recomputes nothing, a killed run resumes to the same numbers, and
bad config values give the CLI's one-line error."""

import copy
import json
import os
import signal

import pandas as pd
import pytest
from cli_fork import forked_cli
from conftest import assert_matches_schema, assert_one_line_error, run_cli, with_changes, write_yaml

TINY = {
    "study": "regression",
    "name": "tiny <script>alert(1)</script>",  # the report must show it as text
    "seeds": [0, 1],
    "task": {"d": 3, "k_max": 5, "n_discrete": 4},
    "base": {"model": {"layers": 1, "width": 16, "heads": 2}, "train": {"steps": 30, "batch_size": 16},
             "curriculum": {"start_dims": 1, "every": 10}},
    "finetune": {"train": {"steps": 12, "batch_size": 16}, "checkpoints": {"steps": [4, 8, 12]}},
    "eval": {"prompts": 40, "gammas": [2.0]},
    "analysis": {"small_k": 2},
    "runtime": {"workers": 1},
}


def tiny(**changes) -> dict:
    return with_changes(copy.deepcopy(TINY), **changes)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("regression")
    cfg = tiny(runtime__cache_dir=str(d / "cache"))
    f = write_yaml(d / "tiny.yaml", cfg)
    proc = run_cli("run", f, "--out", str(d / "run"), "-q")
    assert proc.returncode == 0, proc.stderr
    return d / "run", cfg


def test_outputs_and_summary_schema(tiny_run):
    run, cfg = tiny_run
    s = json.loads((run / "summary.json").read_text())
    assert s["study"] == "regression" and s["seeds"] == [0, 1] and s["finetune_steps"] == [0, 4, 8, 12]
    assert_matches_schema(run / "summary.json", "regression")
    ks = list(range(6))
    for fam in ("discrete", "continuous"):
        assert set(s["loss_by_k"][fam]) == {"base", "finetuned", "ridge", "discrete_bayes", "mixture_bayes", "least_squares", "zero"}
        for rows in s["loss_by_k"][fam].values():
            assert [r["k"] for r in rows] == ks and all(r["mse"] >= 0 and len(r["ci"]) == 2 for r in rows)
        assert set(s["conjugate_loss_by_k"][fam]) == {"base@1", "base@2", "finetuned@1", "finetuned@2"}
        e = s["finetune_effect"][fam]
        assert e["change"]["mean"] == pytest.approx(e["finetuned"]["mean"] - e["base"]["mean"], abs=1e-5)
        assert [r["step"] for r in s["trajectory"][fam]] == [0, 4, 8, 12]
        assert set(s["agreement"][fam]) == {"base", "finetuned"}
    for m in ("posterior_discrete", "w_distance"):
        bins = s["closeness"][m]["bins"]
        assert [b["bin"] for b in bins] == list(range(5))
        assert {"damage", "ci", "closeness"} <= set(bins[0])
    post = [b["closeness"] for b in s["closeness"]["posterior_discrete"]["bins"]]
    dist = [b["closeness"] for b in s["closeness"]["w_distance"]["bins"]]
    assert post == sorted(post) and dist == sorted(dist, reverse=True)  # farthest -> closest
    assert [r["k"] for r in e["change_by_k"]] == ks
    c = s["conjugate"]["2"]
    assert [r["k"] for r in c["per_k"]] == ks
    assert {"recovered", "recovered_small_k", "recovered_large_k", "share", "share_small_k", "share_large_k", "small_minus_large"} <= set(c)
    assert len(c["share_by_seed"]) == 2 and len(c["recovered"]["by_seed"]) == 2
    for r in c["per_k"]:  # recovered = fine-tuned - conjugate, damage = fine-tuned - base (seed means)
        assert r["recovered"] == pytest.approx(r["finetuned"] - r["conjugate"], abs=1e-5)
        assert r["damage"] == pytest.approx(r["finetuned"] - r["base"], abs=1e-5)
    findings = {f["id"]: f for f in s["findings"]}
    assert set(findings) == {"discrete_loss_falls", "continuous_loss_rises", "closer_hurts_more", "conjugate_recovers_small_k_gamma_2"}
    for f in findings.values():  # each verdict is the one its interval gives, recomputed here
        lo, hi = f["ci"]
        side = -1 if f["id"] == "discrete_loss_falls" else 1
        want = "uncertain" if lo is None else ("holds" if (hi < 0 if side < 0 else lo > 0) else
                                               "fails" if (lo >= 0 if side < 0 else hi <= 0) else "uncertain")
        assert f["verdict"] == want, f
    e = s["finetune_effect"]["continuous"]["change"]
    assert findings["continuous_loss_rises"]["value"] == e["mean"] and findings["continuous_loss_rises"]["ci"] == e["ci"]

    # the tables agree with each other and with the summary
    loss = pd.read_parquet(run / "results/loss_by_k.parquet")
    assert set(loss["gamma"]) == {1.0, 2.0} and set(loss["seed"]) == {0, 1}
    base_k0 = loss[(loss["predictor"] == "ridge") & (loss["family"] == "continuous") & (loss["k"] == 0)]["mse"].mean()
    assert s["loss_by_k"]["continuous"]["ridge"][0]["mse"] == pytest.approx(base_k0, abs=1e-5)
    preds = pd.read_parquet(run / "seed-0/3_evaluate/step-000012.parquet")
    assert len(preds) == 2 * 2 * 40 * 6  # gammas x families x prompts x k
    for name in ("trajectory", "agreement", "closeness", "conjugate", "train_log"):
        assert not pd.read_parquet(run / f"results/{name}.parquet").empty
    html = (run / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4 and "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert json.loads((run / "manifest.json").read_text())["study"] == "regression"


def test_rerun_recomputes_nothing(tiny_run):
    run, _ = tiny_run
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.suffix in (".safetensors", ".parquet") and "results" not in p.parts}
    proc = run_cli("run", str(run.parent / "tiny.yaml"), "--out", str(run), "-q")
    assert proc.returncode == 0, proc.stderr
    assert before == {p: p.stat().st_mtime_ns for p in before}


def _numbers(run):
    loss = pd.read_parquet(run / "results/loss_by_k.parquet").sort_values(["seed", "family", "predictor", "gamma", "k"]).reset_index(drop=True)
    return loss, json.loads((run / "summary.json").read_text())


def test_same_config_gives_identical_numbers(tiny_run, tmp_path):
    run, cfg = tiny_run
    cfg2 = {**cfg, "runtime": {**cfg["runtime"], "cache_dir": str(tmp_path / "fresh"), "workers": 2}}  # pre-train again, in 2 processes
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg2), "--out", str(tmp_path / "again"), "-q")
    assert proc.returncode == 0, proc.stderr
    a, sa = _numbers(run)
    b, sb = _numbers(tmp_path / "again")
    pd.testing.assert_frame_equal(a, b)
    assert sa["loss_by_k"] == sb["loss_by_k"] and sa["closeness"] == sb["closeness"] and sa["conjugate"] == sb["conjugate"]


def test_killed_finetuning_resumes_to_the_same_results(tiny_run, tmp_path):
    """Killed (SIGKILL, by the stop hook: no timing) once fine-tuning has saved its step-4 checkpoint:
    the rerun resumes there and ends with the uninterrupted run's numbers."""
    run, _ = tiny_run
    out = tmp_path / "killed"
    env = {**os.environ, "FORGETSCOPE_KILL_AT": "checkpoint:*/seed-1/2_finetune/checkpoints/step-000004"}
    proc = forked_cli("run", run.parent / "tiny.yaml", "--out", out, "-q", env=env)  # a process of its own (tests/cli_fork.py)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (out / "seed-1/2_finetune/checkpoints/step-000004.state.pt").exists()
    assert not (out / "seed-1/2_finetune/_done.json").exists()
    rerun = run_cli("run", str(run.parent / "tiny.yaml"), "--out", str(out), "-q")
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((out / "seed-1/2_finetune/_done.json").read_text())["resumed_from"] == 4
    a, sa = _numbers(run)
    b, sb = _numbers(out)
    pd.testing.assert_frame_equal(a, b)
    assert sa["trajectory"] == sb["trajectory"]
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name or p.suffix == ".lock"]


BAD_VALUES = [
    ({"task__sigma": -1.0}, ["task.sigma", "greater than 0"]),
    ({"task__k_max": 0}, ["task.k_max", "greater than or equal to 1"]),
    ({"task__n_discrete": 0}, ["task.n_discrete", "greater than or equal to 1"]),
    ({"task__alpha": 1.5}, ["task.alpha", "less than or equal to 1"]),
    ({"eval__gammas": [1.5, 0.0]}, ["eval.gammas.1", "greater than 0"]),
    ({"base__model__width": 18, "base__model__heads": 4}, ["divisible by heads"]),
    ({"analysis__small_k": 9}, ["small_k", "k_max"]),
]


@pytest.mark.parametrize("change, fragments", [BAD_VALUES[0], BAD_VALUES[4]])
def test_bad_values_give_one_line_cli_errors(tmp_path, change, fragments):
    f = write_yaml(tmp_path / "c.yaml", tiny(**change))
    assert_one_line_error(run_cli("validate", f), "c.yaml", *fragments)


@pytest.mark.parametrize("change, fragments", BAD_VALUES)
def test_bad_values_are_user_errors_naming_the_field(tmp_path, change, fragments):
    """The same path as the CLI's (load_config -> UserError, printed as one line), in process."""
    from forgetscope.cli import load_config
    from forgetscope.errors import UserError

    f = write_yaml(tmp_path / "c.yaml", tiny(**change))
    with pytest.raises(UserError) as e:
        load_config(f)
    msg = str(e.value)
    assert "\n" not in msg and "c.yaml" in msg
    for frag in fragments:
        assert frag in msg, msg


def test_shipped_regression_configs_validate():
    from pathlib import Path

    from forgetscope.cli import load_config
    from forgetscope.demo import demo_config_path, demo_studies

    root = Path(__file__).resolve().parents[1]
    assert "regression" in demo_studies()
    for f in [*sorted((root / "configs").glob("regression-*.yaml")), demo_config_path("regression")]:
        study, cfg = load_config(f)
        assert study.name == "regression" and cfg.seeds, f
    _, paper = load_config(root / "configs/regression-paper.yaml")
    assert (paper.base.model.layers, paper.base.model.heads, paper.base.model.width) == (12, 8, 256)


def test_summary_agrees_with_the_independent_oracle(tiny_run, tmp_path):
    """tests/oracle/regression.py recomputes every number and verdict of summary.json from the saved
    predictions and baselines, and a sample of the predictions (every gamma) from the saved models
    (issue 25); then on a copy whose predictions are moved so that verdicts differ
    (tests/oracle/replay.py)."""
    from oracle import regression, replay

    run, _ = tiny_run
    regression.check(run)
    moved = replay.regression(run, tmp_path / "moved")
    regression.check(moved, models=False)
    verdicts = {f["id"]: f["verdict"] for f in json.loads((moved / "summary.json").read_text())["findings"]}
    assert verdicts["discrete_loss_falls"] == "holds" and verdicts["conjugate_recovers_small_k_gamma_2"] == "holds"
