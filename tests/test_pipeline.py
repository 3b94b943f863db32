"""The trajectory study end to end through the CLI, on a tiny world: outputs, determinism, resume
after a kill (at the stop hook's points: no timing), and an HTML report that escapes what models and
data say."""

import json
import os
import signal
import subprocess

import pandas as pd
import pytest
from cli_fork import forked_cli, start_cli
from conftest import assert_matches_schema, run_cli, write_yaml


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    from conftest import SMOKE

    d = tmp_path_factory.mktemp("smoke")
    restore = {k: v for k, v in SMOKE["restore"].items() if k != "restorers"}  # the default restorers
    cfg = {**SMOKE, "restore": restore, "runtime": {**SMOKE["runtime"], "cache_dir": str(d / "cache")}}
    proc = run_cli("run", write_yaml(d / "smoke.yaml", cfg), "--out", str(d / "run"), "-q")
    assert proc.returncode == 0, proc.stderr
    return d / "run", cfg


def test_outputs_and_summary_schema(smoke_run):
    run, cfg = smoke_run
    s = json.loads((run / "summary.json").read_text())
    assert s["study"] == "trajectory" and s["probe"] == "cloze_l1" and s["seeds"] == [0]
    assert [c["step"] for c in s["checkpoints"]] == [3, 6, 9]
    for key in ("base", "restored_base"):
        assert 0 <= s[key] <= 1
    for c in s["checkpoints"]:
        assert c["label"] in ("none", "pseudo", "actual", "uncertain")
        assert c["forgetting"] == pytest.approx(s["base"] - c["score"], abs=1e-5)
        assert c["recovered"] == pytest.approx(c["restored"] - c["score"], abs=1e-5)
        assert c["forgetting"] == pytest.approx(c["recovered"] + c["unrecovered"], abs=1e-5)
        assert set(c["ci"]) >= {"score", "restored", "forgetting", "recovered", "unrecovered"}
        assert set(c["other_restorers"]) == {"restored-x2", "interp-0.50"}
        if c["label_ci"] == "actual":  # actual only when the doubled budget agrees
            assert c["saturated"] is True
    assert [r["condition"] for r in s["restorers"]] == ["restored", "restored-x2", "interp-0.50"]
    budgets = {(p["step"], p["budget"]) for p in s["restoration_curve"]}
    assert budgets == {(st, b) for st in (0, 3, 6, 9) for b in (0.0, 0.25, 0.5, 1.0, 2.0)}
    assert {f["id"] for f in s["findings"]} == {"pseudo_forgetting", "actual_forgetting", "stage_transition"}
    assert_matches_schema(run / "summary.json", "trajectory")
    assert set(s["probes"]) >= {"cloze_l1", "cloze_l2", "qa_l1", "icl_l1", "icl_l2"}
    assert set(s["rates"]) == {"private_l1", "private_l2"}
    assert {r["format"] for r in s["pattern_shift"]} == {"chat", "plain"}
    base_kl = [r["kl"] for r in s["pattern_shift"] if r["step"] == 0]
    assert base_kl == [pytest.approx(0.0, abs=1e-6)] * 2  # the base against itself

    items = pd.read_parquet(run / "results" / "items.parquet")
    probes = pd.read_json(run / "seed-0/1_world/probes.jsonl", lines=True)
    per_model = items.groupby(["condition", "step"]).size()
    assert (per_model == len(probes)).all()  # one row per model x checkpoint x condition x probe item
    assert set(per_model.index) == ({("checkpoint", s) for s in (0, 3, 6, 9)} | {("restored", s) for s in (0, 3, 6, 9)}
                                    | {("restored-x2", s) for s in (0, 3, 6, 9)} | {("interp-0.50", s) for s in (3, 6, 9)})
    # the primary probe's numbers recomputed from the item table (one seed: plain means over its items;
    # summary.json rounds to 6 decimals)
    primary = items[items["probe"] == "cloze_l1"]
    mean = primary.groupby(["condition", "step"])["score"].mean()
    assert s["base"] == pytest.approx(mean["checkpoint", 0], abs=1e-6)
    assert s["restored_base"] == pytest.approx(mean["restored", 0], abs=1e-6)
    for c in s["checkpoints"]:
        assert c["score"] == pytest.approx(mean["checkpoint", c["step"]], abs=1e-6)
        assert c["restored"] == pytest.approx(mean["restored", c["step"]], abs=1e-6)
        assert c["other_restorers"]["interp-0.50"]["score"] == pytest.approx(mean["interp-0.50", c["step"]], abs=1e-6)
        assert c["gap_to_restored_base"] == pytest.approx(mean["restored", 0] - mean["restored", c["step"]], abs=1e-6)
    curve = pd.read_parquet(run / "results" / "restoration_curve.parquet")
    assert set(curve["fraction"]) == {0.25, 0.5} and set(curve["restore_step"]) == {1, 2}  # of 3 restoration steps
    for f in ("bpb", "pattern_shift", "train_log", "decomposition", "decomposition_by_seed", "per_item"):
        assert not pd.read_parquet(run / "results" / f"{f}.parquet").empty
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["study"] == "trajectory" and manifest["torch"]
    html = (run / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5


def test_rerun_recomputes_nothing(smoke_run):
    run, cfg = smoke_run
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*.safetensors")}
    proc = run_cli("run", str(run.parent / "smoke.yaml"), "--out", str(run), "-q")
    assert proc.returncode == 0, proc.stderr
    assert before == {p: p.stat().st_mtime_ns for p in run.rglob("*.safetensors")}


def _numbers(run):
    items = pd.read_parquet(run / "results" / "items.parquet").sort_values(["condition", "step", "item_id"]).reset_index(drop=True)
    cols = ["condition", "step", "item_id", "score", "answer_logprob", "output"]
    return items[cols], json.loads((run / "summary.json").read_text())


def test_same_config_and_seed_give_identical_numbers(smoke_run, tmp_path):
    run, cfg = smoke_run
    cfg2 = {**cfg, "runtime": {**cfg["runtime"], "cache_dir": str(tmp_path / "fresh-cache")}}  # pre-train again too
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg2), "--out", str(tmp_path / "again"), "-q")
    assert proc.returncode == 0, proc.stderr
    a, sa = _numbers(run)
    b, sb = _numbers(tmp_path / "again")
    pd.testing.assert_frame_equal(a, b)
    assert sa["checkpoints"] == sb["checkpoints"] and sa["pattern_shift"] == sb["pattern_shift"]


def _killed_at(point: str, config, out, extra_env=None) -> subprocess.CompletedProcess:
    """`forgetscope run` that kills itself (SIGKILL, its whole process group) at the stop hook's
    point (forgetscope.store.stop): deterministic, no timing. In a process of its own (tests/cli_fork.py)."""
    env = {**os.environ, "FORGETSCOPE_KILL_AT": point, **(extra_env or {})}
    proc = forked_cli("run", config, "--out", out, "-q", env=env)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)
    return proc


@pytest.mark.parametrize("kill_at, left", [
    ("checkpoint:*/seed-0/3_finetune/checkpoints/step-000006", "seed-0/3_finetune/checkpoints/step-000006.state.pt"),
    ("unit:*/seed-0/6_restore/restored-step-000003:end", "seed-0/6_restore/restored-step-000003.items.parquet"),
    ("write:*/results/items.parquet", "results/items.parquet.tmp-*"),
], ids=["mid-finetuning", "unit-written-not-recorded", "temporary-in-results"])
def test_killed_run_resumes_to_the_same_results(tmp_path, smoke_run, kill_at, left):
    run, cfg = smoke_run
    out = tmp_path / "killed"
    _killed_at(kill_at, run.parent / "smoke.yaml", out)
    assert list(out.glob(left)), f"the kill point left no {left}"
    assert not (out / "summary.json").exists()
    rerun = run_cli("run", str(run.parent / "smoke.yaml"), "--out", str(out), "-q")
    assert rerun.returncode == 0, rerun.stderr
    a, sa = _numbers(run)
    b, sb = _numbers(out)
    pd.testing.assert_frame_equal(a, b)
    assert sa["checkpoints"] == sb["checkpoints"]
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name or p.suffix == ".lock"]
    if "finetune" in kill_at:
        assert json.loads((out / "seed-0/3_finetune/_done.json").read_text())["resumed_from"] == 6


def test_killed_while_caching_the_base_leaves_nothing_in_the_cache(tmp_path, smoke_run):
    """A kill as the base is copied into the cache leaves `<key>.tmp-*` there; the next start removes
    it, and the run is the same."""
    run, cfg = smoke_run
    cache = tmp_path / "cache"
    f = write_yaml(tmp_path / "c.yaml", {**cfg, "runtime": {**cfg["runtime"], "cache_dir": str(cache)}})
    _killed_at("write:*/cache/bases/*", f, tmp_path / "killed")
    assert [p for p in (cache / "bases").iterdir() if ".tmp-" in p.name]
    rerun = run_cli("run", f, "--out", str(tmp_path / "killed"), "-q")
    assert rerun.returncode == 0, rerun.stderr
    assert not [p for p in cache.rglob("*") if ".tmp-" in p.name]
    pd.testing.assert_frame_equal(_numbers(run)[0], _numbers(tmp_path / "killed")[0])


def test_report_escapes_script_planted_in_data(tmp_path, smoke_config, tiny_lm):
    """User data with a <script> in the probe name, item ids, prompts and choices: the report shows it
    as text. The probe name is also `$\\foo$`: matplotlib would read it as math (and fail, after all
    the compute) in the plot titles it reaches."""
    from forgetscope.models import save_model

    model, tok = tiny_lm
    save_model(model, tok, tmp_path / "model")
    evil = "<script>alert(1)</script>"
    probe = f"facts $\\foo$ {evil}"
    probes = [
        {"id": f"{evil}-{i}", "probe": probe, "kind": "choice", "prompt": f"alice-baker was born in {evil}",
         "choices": [f" {evil}", " paris", " oslo"], "answer": 1}
        for i in range(6)
    ] + [{"id": "q", "probe": "chat", "kind": "exact", "format": "chat", "prompt": f"what is {evil} ?", "answer": evil}]
    (tmp_path / "probes.jsonl").write_text("".join(json.dumps(p) + "\n" for p in probes))
    (tmp_path / "sft.jsonl").write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q {evil}"}, {"role": "assistant", "content": evil}]}) + "\n" for _ in range(8)))
    (tmp_path / "text.jsonl").write_text("".join(json.dumps({"text": f"alice-baker was born in paris . {evil}"}) + "\n" for _ in range(40)))
    cfg = {**smoke_config, "name": evil, "base": {"kind": "pretrained", "path": str(tmp_path / "model")}}
    cfg["finetune"]["data"] = str(tmp_path / "sft.jsonl")
    cfg["restore"] = {"data": str(tmp_path / "text.jsonl"), "train": {"steps": 2, "batch_size": 2, "max_length": 16}}
    cfg["eval"] = {"probes": str(tmp_path / "probes.jsonl"), "heldout_text": str(tmp_path / "text.jsonl"),
                   "pattern_prompts": str(tmp_path / "sft.jsonl")}
    cfg["analysis"] = {"primary_probe": probe, "n_bootstrap": 100}
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(tmp_path / "run"), "-q")
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "run" / "report.html").read_text()
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Probe facts $\\foo$ &lt;script&gt;alert(1)&lt;/script&gt;:" in html  # the probe name reached the page, as text
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["probe"] == probe


def test_lora_finetuning_keeps_adapter_checkpoints(tmp_path, smoke_config):
    cfg = smoke_config
    cfg["finetune"]["train"]["lora"] = {"r": 4, "alpha": 8}
    cfg["restore"]["train"]["lora"] = {"r": 4, "alpha": 8}
    cfg["runtime"]["cache_dir"] = str(tmp_path / "cache")
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(tmp_path / "run"), "-q")
    assert proc.returncode == 0, proc.stderr
    ck = tmp_path / "run/seed-0/3_finetune/checkpoints/step-000009"
    assert (ck / "adapter_model.safetensors").exists() and not (ck / "model.safetensors").exists()
    adapter = json.loads((ck / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str((tmp_path / "run/seed-0/2_base/model").resolve())

    from forgetscope.models import load_model

    merged = load_model(ck)
    base = load_model(tmp_path / "run/seed-0/2_base/model")
    diffs = [float((a - b).detach().abs().max()) for a, b in zip(merged.parameters(), base.parameters(), strict=True)]
    assert max(diffs) > 0  # the adapter changed the weights it was merged into
    assert all(p.requires_grad for p in merged.parameters())
    s = json.loads((tmp_path / "run/summary.json").read_text())
    assert [c["step"] for c in s["checkpoints"]] == [3, 6, 9]


def test_two_processes_share_one_run_store(tmp_path, smoke_config):
    """Two `forgetscope run` on one folder at once (two machines on a shared store, say): every unit
    is done once, nothing is corrupted, the numbers equal a single process's. A barrier, not timing:
    each process waits at its first restoration unit until the other holds one too (store/stop.py)."""
    cfg = smoke_config
    cfg["runtime"]["cache_dir"] = str(tmp_path / "cache")
    f = write_yaml(tmp_path / "c.yaml", cfg)
    single = run_cli("run", f, "--out", str(tmp_path / "single"), "-q")
    assert single.returncode == 0, single.stderr
    out = tmp_path / "shared"
    env = {**os.environ, "FORGETSCOPE_BARRIER_AT": "unit:*/6_restore/*:start", "FORGETSCOPE_BARRIER_DIR": str(tmp_path / "barrier")}
    procs = [start_cli("run", f, "--out", out, "-q", env=env) for _ in range(2)]
    for p in procs:
        done = p.result(timeout=600)
        assert done.returncode == 0, done.stderr
    a, sa = _numbers(tmp_path / "single")
    b, sb = _numbers(out)
    pd.testing.assert_frame_equal(a, b)
    assert sa["checkpoints"] == sb["checkpoints"]
    restore = out / "seed-0" / "6_restore"
    records = [json.loads(p.read_text()) for p in restore.glob("*_done.json") if p.name != "_done.json"]
    assert len(records) == 4 and len({r["pid"] for r in records}) == 2  # both processes restored some units (steps 0, 3, 6, 9)
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name or p.suffix == ".lock"]


def test_summary_agrees_with_the_independent_oracle(smoke_run, tmp_path):
    """tests/oracle/trajectory.py recomputes every number, label and verdict of summary.json from the
    seeds' own item tables (issue 25): on the run as it is, and on copies whose scores are redrawn
    (tests/oracle/replay.py) so that the labels cover pseudo, actual, uncertain, an unsaturated
    actual, a pseudo after an actual and a damaged control; one seed (item bootstrap), then three."""
    from oracle import replay, trajectory

    run, _ = smoke_run
    trajectory.check(run)
    one = replay.trajectory(run, tmp_path / "one", primary="cloze_l2")
    trajectory.check(one)
    s = json.loads((one / "summary.json").read_text())
    assert [c["label_ci"] for c in s["checkpoints"]] == ["pseudo", "actual", "pseudo"]  # the design did what it says
    assert {f["id"]: f["verdict"] for f in s["findings"]}["stage_transition"] == "fails"
    assert [c["saturated"] for c in s["probes"]["qa_l1"]["checkpoints"]][1] is False and s["damaged_controls"]
    trajectory.check(replay.trajectory(run, tmp_path / "three", seeds=3))
