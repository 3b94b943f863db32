"""Shared fixtures: tiny worlds and models built from configs (nothing is downloaded)."""

from __future__ import annotations

import contextlib
import functools
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# datasets' arrow caches (lm-eval's json tasks) in a folder of this test process, never the user's: set
# before anything imports datasets, which reads it once, at import (subprocesses inherit it)
os.environ["HF_DATASETS_CACHE"] = __import__("tempfile").mkdtemp(prefix="forgetscope-tests-datasets-")

import pytest  # noqa: E402
import torch  # noqa: E402

from forgetscope.execution import quiet_libraries  # noqa: E402

quiet_libraries()
FRESH_THREADS = torch.get_num_threads()  # what a fresh interpreter's torch uses (run_cli in process sets it back)
torch.set_num_threads(1)

# A world and pipeline small enough for a test: seconds, not minutes.
SMOKE = {
    "study": "trajectory",
    "name": "smoke",
    "seeds": [0],
    "world": {
        "people": {"ift": 8, "restore": 8, "eval": 6, "heldout": 3},
        "pretrain": {"bios_per_person": 2, "icl_episodes": 30},
        "restoration": {"bios_per_person": 2, "icl_episodes": 10},
        "instructions": {"icl_override": 20, "icl_follow": 10, "arithmetic": 20},
        "probes": {"icl_per_language": 8, "pattern_prompts": 4},
    },
    "base": {"kind": "tiny", "model": {"layers": 2, "hidden": 32, "heads": 2},
             "train": {"steps": 12, "batch_size": 8, "lr": 0.003, "max_length": 32}},
    "finetune": {"train": {"steps": 9, "batch_size": 4, "lr": 0.001}, "checkpoints": {"steps": [3, 6, 9]}},
    "restore": {"train": {"steps": 3, "batch_size": 4, "max_length": 32}, "restorers": ["lm_training"]},
    "analysis": {"n_bootstrap": 200},
    "runtime": {"workers": 1},
}


# The test files that take longest, longest first (seconds of test time per file, `--junitxml` of a
# whole `make test`, 2026-12-06: test_pipeline 52 s ... test_shared_base 5 s; test_unlearning_lm_eval,
# added later: 14-24 s under load); the rest follow in name order. `make test` hands whole files to its
# two processes in this order (--dist loadfile --no-loadscope-reorder), so the long ones start early and
# the short ones fill the gaps at the end (longest processing time first). Without
# --no-loadscope-reorder xdist sorts files by their number of tests instead, and one process ran the
# launched group, the progress log and SIGTERM alone for its last 29 s.
LONGEST_FIRST = ("test_pipeline.py", "test_own_checkpoints.py", "test_lm_eval_agreement.py", "test_unlearning_lm_eval.py",
                 "test_recipes.py", "test_distributed.py", "test_conjugate.py", "test_cli_progress.py", "test_pretrained_path.py",
                 "test_unlearning.py", "test_compare.py", "test_execution.py", "test_terminate.py",
                 "test_faults.py", "test_regression_study.py", "test_recipes_sweep.py", "test_compare_runs.py",
                 "test_shared_base.py", "test_invariants.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept otherwise


def pytest_unconfigure(config):
    """The fork server of tests/cli_fork.py, if this process started one, is stopped and waited for:
    its CPU time (and its children's) is then counted in this process's, as a subprocess's is."""
    import sys

    if "cli_fork" in sys.modules:
        sys.modules["cli_fork"].stop()
    import shutil

    shutil.rmtree(os.environ["HF_DATASETS_CACHE"], ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Bases are cached per test session, never in the user's home."""
    monkeypatch.setenv("FORGETSCOPE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def smoke_config() -> dict:
    import copy

    return copy.deepcopy(SMOKE)


@functools.cache
def _tiny_world():
    from forgetscope.world.build import build_world
    from forgetscope.world.config import WorldConfig

    return build_world(WorldConfig.model_validate(SMOKE["world"]), seed=0)


@functools.cache
def _tiny_lm():
    from forgetscope.models import TinyModelConfig, build_tiny_model

    tok = _tiny_world().tokenizer()
    model = build_tiny_model(TinyModelConfig(layers=2, hidden=32, heads=2), tok, seed=0).eval()
    return model, tok


if os.environ.get("FORGETSCOPE_TEST_PREBUILD"):
    # `make mutation`: built once in the process that mutmut forks for every mutant, not once per mutant
    _tiny_lm()


@pytest.fixture(scope="session")
def tiny_world():
    return _tiny_world()


@pytest.fixture(scope="session")
def tiny_lm(tiny_world):
    """(model, tokenizer): a 2-layer Llama over the tiny world's vocabulary, random weights, seed 0."""
    return _tiny_lm()


def with_changes(cfg: dict, **changes) -> dict:
    """`cfg` (changed in place, and returned) with `a__b__c=value` set at cfg["a"]["b"]["c"]."""
    for key, value in changes.items():
        *path, last = key.split("__")
        node = cfg
        for p in path:
            node = node.setdefault(p, {})
        node[last] = value
    return cfg


def write_yaml(path, data) -> str:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def run_cli(*args, env=None, cwd=None, timeout=600, process=False):
    """`forgetscope ARGS` as a user types it: stdout, stderr and the exit code, as a CompletedProcess.

    In this process by default: the CLI's `main` with ARGS as its argv (what `python -m forgetscope`
    runs), with stdout and stderr captured and the process state a command changes put back after
    it (environment, working folder, torch threads and RNG, warning filters, the scoring precision,
    accelerate's shared state). That saves a fresh interpreter's import of torch and transformers
    (seconds each) per call. `process=True`: in a fresh interpreter, for what only a real process
    shows (the entry point, signals, kills). A call with its own `env` always gets one: libraries
    read some variables once, at import (huggingface_hub's cache folders), and a kill point
    (FORGETSCOPE_KILL_AT) kills the process that passes it."""
    import subprocess
    import sys

    args = [str(a) for a in args]
    if process or env is not None:
        return subprocess.run([sys.executable, "-m", "forgetscope", *args], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=cwd)
    return _run_cli_here(args, cwd=cwd)


def _run_cli_here(args: list[str], *, cwd=None):
    import io
    import subprocess
    import warnings

    from forgetscope import precision
    from forgetscope.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd, saved_threads, saved_scoring = dict(os.environ), os.getcwd(), torch.get_num_threads(), precision.scoring()
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        torch.set_num_threads(FRESH_THREADS)
        with (torch.random.fork_rng(devices=[]), _python_and_numpy_rng_kept(), warnings.catch_warnings(), contextlib.redirect_stdout(out),
              contextlib.redirect_stderr(err)):
            try:
                main(args)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        torch.set_num_threads(saved_threads)
        precision.set_scoring(saved_scoring)
        _reset_accelerate()
    return subprocess.CompletedProcess(["forgetscope", *args], code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _python_and_numpy_rng_kept():
    import random

    import numpy as np

    py, npy = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)


def _reset_accelerate() -> None:
    """accelerate keeps one process-wide state (the first Accelerator's settings); a fresh one per command."""
    import sys

    if "accelerate.state" in sys.modules:
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(True)
        GradientState._reset_state()


def assert_one_line_error(proc, *fragments):
    """Bad input: exit 2, one line on stderr holding every fragment, no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def assert_matches_schema(summary_path, study: str) -> None:
    """summary.json validates against the JSON Schema that `forgetscope schema STUDY` prints (checked
    by jsonschema, an implementation independent of pydantic's)."""
    import json

    import jsonschema

    proc = run_cli("schema", study)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    jsonschema.validate(json.loads(open(summary_path).read()), schema)
