"""SIGTERM to a run with parallel seeds ends its seed workers too, as Ctrl-C does: a scheduler's
`kill` used to leave the workers (children of the fork server, not of the main process) training
on, orphaned, for minutes after the main process had gone."""

import os
import signal
import subprocess
import sys
import time

import psutil

from conftest import SMOKE, with_changes, write_yaml


def test_sigterm_ends_the_seed_workers(tmp_path):
    import copy

    cfg = with_changes(copy.deepcopy(SMOKE), seeds=[0, 1], runtime__workers=2,
                       finetune__train__steps=4000, finetune__checkpoints={"steps": [4000]})
    config = write_yaml(tmp_path / "long.yaml", cfg)
    out = tmp_path / "run"
    env = {**os.environ, "FORGETSCOPE_CACHE": str(tmp_path / "cache")}
    main = subprocess.Popen([sys.executable, "-m", "forgetscope", "run", config, "--out", str(out), "-q"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    workers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 300
        while not all((out / f"seed-{s}" / "3_finetune").exists() for s in (0, 1)):  # both workers are fine-tuning
            assert main.poll() is None, main.communicate()
            assert time.monotonic() < deadline, "the run never reached fine-tuning"
            time.sleep(0.5)
        workers = psutil.Process(main.pid).children(recursive=True)
        assert len(workers) >= 2
        main.send_signal(signal.SIGTERM)
        _, err = main.communicate(timeout=60)
        assert main.returncode == 130, err
        assert "re-run the same command to resume" in err
        gone, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive, f"{len(alive)} seed worker(s) still running after SIGTERM"
    finally:  # whatever happened, leave no process of this run behind (orphans are no longer our children)
        if main.poll() is None:
            os.killpg(main.pid, signal.SIGKILL)
        for p in workers:
            try:
                p.kill()
            except psutil.Error:
                pass
