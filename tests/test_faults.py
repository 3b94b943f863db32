"""Faults end to end through the CLI: non-finite training, damaged run files, a full disk, the stop
hook. Every fault ends the same way: found, one line naming what and where, nothing wrong used;
resumed, the run ends with the numbers of an undisturbed one."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pandas as pd
import pytest
from cli_fork import forked_cli
from conftest import SMOKE, assert_one_line_error, run_cli, write_yaml

REGRESSION = {
    "study": "regression", "name": "faults", "seeds": [0, 1], "task": {"d": 3, "k_max": 5, "n_discrete": 4},
    "base": {"model": {"layers": 1, "width": 16, "heads": 2}, "train": {"steps": 30, "batch_size": 16},
             "curriculum": {"start_dims": 1, "every": 10}},
    "finetune": {"train": {"steps": 12, "batch_size": 16}, "checkpoints": {"steps": [4, 8, 12]}},
    "eval": {"prompts": 40, "gammas": [2.0]}, "analysis": {"small_k": 2}, "runtime": {"workers": 1},
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    f = write_yaml(d / "r.yaml", {**REGRESSION, "runtime": {**REGRESSION["runtime"], "cache_dir": str(d / "cache")}})
    proc = run_cli("run", f, "--out", str(d / "ref"), "-q")
    assert proc.returncode == 0, proc.stderr
    return f, d / "ref"


def _tables(run):
    out = {p.name: pd.read_parquet(p) for p in sorted((run / "results").glob("*.parquet"))}
    return out, json.loads((run / "summary.json").read_text())


def _same_results(a, b) -> None:
    ta, sa = _tables(a)
    tb, sb = _tables(b)
    assert set(ta) == set(tb)
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True)
    assert sa == sb


def _no_strays(*roots) -> None:
    for root in roots:
        assert not [p for p in root.rglob("*") if ".tmp-" in p.name or p.suffix == ".lock" or p.name.endswith("_damaged.json")]


def _records_intact(run) -> None:
    """Every completion record present vouches truly for its files (nothing half-written is done)."""
    from forgetscope.store import RunStore

    store = RunStore(run)
    for rec in run.rglob("_done.json"):
        st = store.stage(rec.parent.name, int(rec.parent.parent.name[5:]) if rec.parent.parent.name.startswith("seed-") else None)
        assert st.check() is None, st.check()


# -- non-finite: one line, non-zero exit, nothing labelled ----------------------------------------
def test_a_learning_rate_that_diverges_stops_the_run_and_labels_nothing(tmp_path):
    """The issue's case (configs/trajectory-smoke.yaml, finetune.train.lr 1e6: NaN from step 3, exit 0,
    every checkpoint labelled "actual"; benchmarks/README.md has that run now). On this smaller world
    1e6 stays finite for its 9 steps, so the rate here is 1e30: the first gradient overflows. The
    fine-tuning stops there; nothing is labelled."""
    cfg = {**SMOKE, "runtime": {**SMOKE["runtime"], "cache_dir": str(tmp_path / "cache")}}
    f = write_yaml(tmp_path / "c.yaml", cfg)
    out = tmp_path / "run"
    proc = run_cli("run", f, "--out", str(out), "-q", "--set", "finetune.train.lr=1.0e+30")
    assert_one_line_error(proc, "non-finite", "at step", "study trajectory, seed 0, stage 3_finetune", "nothing of it is marked done")
    assert not (out / "seed-0" / "3_finetune" / "_done.json").exists()
    assert not (out / "summary.json").exists() and not (out / "results").exists()
    assert not list(out.glob("seed-0/3_finetune/checkpoints/*/"))  # no checkpoint after the first NaN


def test_training_stops_at_the_first_non_finite_loss(tiny_world):
    from forgetscope.errors import NonFiniteError
    from forgetscope.models import TinyModelConfig, build_tiny_model
    from forgetscope.training import LMBatches, TrainConfig, train
    from forgetscope.training.loop import token_nll_sum

    tok = tiny_world.tokenizer()
    model = build_tiny_model(TinyModelConfig(layers=1, hidden=16, heads=2), tok, seed=0)
    batches = LMBatches([r["text"] for r in tiny_world.pretrain[:20]], tok, 32, seed=0)
    seen = []

    def nan_at_step_3(m, batch):
        seen.append(1)
        loss, n = token_nll_sum(m, batch)
        return (loss * float("nan") if len(seen) == 3 else loss), n  # one micro-batch a step

    saved = []
    with pytest.raises(NonFiniteError, match="non-finite training loss \\(nan\\) at step 3"):
        train(model, batches, TrainConfig(steps=5, batch_size=2), seed=0, loss_fn=nan_at_step_3, save_steps=[2, 4],
              save=lambda m, step, state: saved.append(step))
    assert saved == [2]
    assert all(bool(p.isfinite().all()) for p in model.parameters())  # the NaN never reached the weights

    first = next(model.parameters())
    hook = first.register_hook(lambda g: g * float("inf"))  # a finite loss, an infinite gradient
    with pytest.raises(NonFiniteError, match="non-finite gradient .* at step 1"):
        train(model, batches, TrainConfig(steps=2, batch_size=2, grad_clip=None), seed=0)
    hook.remove()
    assert all(bool(p.isfinite().all()) for p in model.parameters())


def test_non_finite_weights_are_refused_for_evaluation(tmp_path, tiny_lm):
    import torch

    from forgetscope.errors import NonFiniteError
    from forgetscope.models import load_model, save_model

    model, tok = tiny_lm
    bad = type(model)(model.config)
    bad.load_state_dict(model.state_dict())
    with torch.no_grad():
        next(bad.parameters())[0, 0] = float("nan")
    save_model(bad, tok, tmp_path / "m")
    with pytest.raises(NonFiniteError, match="non-finite weights"):
        load_model(tmp_path / "m")


def test_the_stage_rule_makes_no_label_from_nan():
    from forgetscope.analysis.stage_rule import point_label as label
    from forgetscope.errors import NonFiniteError

    assert label(0.9, 0.5, 0.6, 0.9, 0.05) == "actual"
    with pytest.raises(NonFiniteError):
        label(0.9, float("nan"), 0.6, 0.9, 0.05)


# -- damaged run files: redone or one line, never used --------------------------------------------
def test_damaged_run_files_are_redone_never_used(reference, tmp_path):
    """A truncated checkpoint, a garbage completion record, a garbage parquet in a stage folder: the
    rerun names each, redoes exactly that work, and ends with the undisturbed run's numbers."""
    f, ref = reference
    run = tmp_path / "run"
    shutil.copytree(ref, run)
    ck = run / "seed-0/2_finetune/checkpoints/step-000008/model.safetensors"
    ck.write_bytes(ck.read_bytes()[:1000])
    (run / "seed-1/1_base/_done.json").write_text("\x00garbage{")
    (run / "seed-1/3_evaluate/step-000004.parquet").write_bytes(b"PAR1 garbage PAR1")
    proc = run_cli("run", f, "--out", str(run), "-q")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "step-000008/model.safetensors: 1000 bytes" in err and "seed 0, stage 2_finetune is done again" in err
    assert "seed-1/1_base/_done.json: not a readable record" in err
    assert "step-000004.parquet" in err and "unit step-000004 is done again" in err
    _same_results(ref, run)
    _records_intact(run)
    _no_strays(run)


@pytest.mark.parametrize("what, damage, fragment", [
    ("config.yaml", lambda t: t[: len(t) // 2], "config.yaml: damaged"),
    ("manifest.json", lambda t: "garbage" + t, "manifest.json: damaged"),
], ids=["cut-config", "garbage-manifest"])
def test_damaged_run_level_files_are_one_line(reference, tmp_path, what, damage, fragment):
    f, ref = reference
    run = tmp_path / "run"
    shutil.copytree(ref, run)
    (run / what).write_text(damage((run / what).read_text()))
    for cmd in (("validate", f, "--out", str(run)), ("run", f, "--out", str(run), "-q")):
        assert_one_line_error(run_cli(*cmd), str(run / what), fragment)


def test_run_out_never_takes_over_a_folder_that_is_not_a_run(reference, tmp_path):
    f, _ = reference
    folder = tmp_path / "my-data"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert_one_line_error(run_cli("run", f, "--out", str(folder), "-q"), "not empty and not a forgetscope run")
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


# -- a full disk: one line, nothing half-written marked done, the rerun the same ------------------
FULL_DISK = r'''
import builtins, errno, io, os
budget = [int(os.environ["FULL_AFTER_BYTES"])]

class Full:
    def __init__(self, f, name):
        self._f, self._name = f, name
    def write(self, data):
        budget[0] -= len(data)
        if budget[0] < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._name)
        return self._f.write(data)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return self._f.__exit__(*exc)
    def __getattr__(self, name):
        return getattr(self._f, name)
    def __iter__(self):
        return iter(self._f)

real_open = io.open
def full_open(file, mode="r", *args, **kwargs):
    f = real_open(file, mode, *args, **kwargs)
    if any(c in mode for c in "wax+"):
        name = os.readlink(f"/proc/self/fd/{file}") if isinstance(file, int) else str(file)
        return Full(f, name)
    return f
io.open = builtins.open = full_open
'''


@pytest.mark.parametrize("budget", [0, 150_000])
def test_a_full_disk_is_one_line_and_resumes_to_the_same_numbers(reference, tmp_path, budget):
    """Writes fail with ENOSPC once `budget` bytes are written (io.open wrapped in the run's process,
    before the command starts):
    the run ends with one line naming the file (exit 1), no record vouches for a half-written file,
    and the rerun (disk freed) ends with the undisturbed run's numbers."""
    f, ref = reference
    run = tmp_path / "run"
    env = {**os.environ, "FULL_AFTER_BYTES": str(budget)}
    proc = forked_cli("run", f, "--out", run, "-q", env=env, before=FULL_DISK)  # a process of its own (tests/cli_fork.py)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("error: No space left on device: ") and "re-run the same command" in proc.stderr
    if run.exists():
        _records_intact(run)
    rerun = run_cli("run", f, "--out", str(run), "-q")
    assert rerun.returncode == 0, rerun.stderr
    _same_results(ref, run)
    _no_strays(run)


# -- the stop hook --------------------------------------------------------------------------------
def test_the_stop_hook_kills_at_the_named_point_and_traces_every_point(reference, tmp_path):
    f, _ = reference
    trace = tmp_path / "points.txt"
    env = {**os.environ, "FORGETSCOPE_KILL_AT": "stage:*/seed-0/2_finetune:end", "FORGETSCOPE_KILL_TRACE": str(trace)}
    run = tmp_path / "run"
    proc = forked_cli("run", f, "--out", run, "-q", env=env)  # a process of its own (tests/cli_fork.py)
    assert proc.returncode == -signal.SIGKILL
    points = trace.read_text().splitlines()
    assert points[-1].startswith("stage:") and points[-1].endswith("seed-0/2_finetune:end")
    assert any(p.endswith("seed-0/1_base:start") for p in points) and any("checkpoint:" in p for p in points)
    assert any(p.startswith("write:") for p in points)
    assert (run / "seed-0/2_finetune/checkpoints/step-000012").is_dir()  # its work done, its record not written
    assert not (run / "seed-0/2_finetune/_done.json").exists()
