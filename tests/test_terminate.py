"""SIGTERM to a run with parallel seeds ends its seed workers too, as Ctrl-C does: a scheduler's
`kill` used to leave the workers (children of the fork server, not of the main process) training
on, orphaned, for minutes after the main process had gone."""

import os
import signal
import time

import psutil
from cli_fork import start_cli

from conftest import SMOKE, with_changes, write_yaml


def test_sigterm_ends_the_seed_workers(tmp_path):
    import copy

    cfg = with_changes(copy.deepcopy(SMOKE), seeds=[0, 1], runtime__workers=2,
                       finetune__train__steps=4000, finetune__checkpoints={"steps": [4000]})
    config = write_yaml(tmp_path / "long.yaml", cfg)
    out = tmp_path / "run"
    env = {**os.environ, "FORGETSCOPE_CACHE": str(tmp_path / "cache")}
    # a real process in its own session: a fork of tests/cli_fork.py's pre-imported server
    main = start_cli("run", config, "--out", out, "-q", env=env)
    workers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 300
        while not all((out / f"seed-{s}" / "3_finetune").exists() for s in (0, 1)):  # both workers are fine-tuning
            assert main.running(), main.result().stderr
            assert time.monotonic() < deadline, "the run never reached fine-tuning"
            time.sleep(0.5)
        workers = psutil.Process(main.pid).children(recursive=True)
        assert len(workers) >= 2
        os.kill(main.pid, signal.SIGTERM)
        proc = main.result(timeout=60)
        assert proc.returncode == 130, proc.stderr
        assert "re-run the same command to resume" in proc.stderr
        gone, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive, f"{len(alive)} seed worker(s) still running after SIGTERM"
    finally:  # whatever happened, leave no process of this run behind (orphans are no longer our children)
        if main.running():
            os.killpg(main.pid, signal.SIGKILL)
        for p in workers:
            try:
                p.kill()
            except psutil.Error:
                pass
