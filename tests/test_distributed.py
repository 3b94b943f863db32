"""A study under a launcher: two CPU processes (torchrun, gloo) train together as one DDP job and
share the evaluation and restoration units; the checkpoints equal one process's with the same global
batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from cli_fork import forked_cli
from conftest import write_yaml
from safetensors.torch import load_file

from forgetscope.training.checkpoints import step_name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _weights(folder):
    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


def _max_diff(a, b) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def test_two_launched_processes_train_like_one(tmp_path, smoke_config):
    cfg = smoke_config
    cfg["base"]["train"]["steps"] = 20
    cfg["finetune"]["train"]["batch_size"] = 4  # global batch: 2 rows per process
    f = write_yaml(tmp_path / "c.yaml", cfg)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    # one process, with the libraries already imported (tests/cli_fork.py): the launched group below is
    # the subject; torch's threads are the config's (runtime.threads) in both
    single = forked_cli("run", f, "--out", tmp_path / "one", "-q", env={**env, "FORGETSCOPE_CACHE": str(tmp_path / "cache1")})
    assert single.returncode == 0, single.stderr
    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
         "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
         "-m", "forgetscope", "run", f, "--out", str(tmp_path / "two"), "-q"],
        capture_output=True, text=True, timeout=600,
        # a barrier, not timing: each process waits at its first restoration unit until the other holds one
        env={**env, "FORGETSCOPE_CACHE": str(tmp_path / "cache2"), "FORGETSCOPE_BARRIER_AT": "unit:*/6_restore/*:start",
             "FORGETSCOPE_BARRIER_DIR": str(tmp_path / "barrier")},
    )
    assert launched.returncode == 0, launched.stderr[-3000:]

    one, two = tmp_path / "one" / "seed-0", tmp_path / "two" / "seed-0"
    for stage in ("2_base", "3_finetune"):  # trained as one data-parallel job, not twice
        assert json.loads((one / stage / "_done.json").read_text())["processes"] == 1
        assert json.loads((two / stage / "_done.json").read_text())["processes"] == 2
    # The pre-trained base and every fine-tuning checkpoint: same weights up to float summation order.
    assert _max_diff(_weights(one / "2_base" / "model"), _weights(two / "2_base" / "model")) < 1e-4
    for step in (3, 6, 9):
        name = step_name(step)
        assert _max_diff(_weights(one / "3_finetune" / "checkpoints" / name),
                         _weights(two / "3_finetune" / "checkpoints" / name)) < 1e-4, name
    # Both processes took restoration units (the barrier); every unit done once; nothing half-written is left.
    records = [json.loads(p.read_text()) for p in (two / "6_restore").glob("*_done.json") if p.name != "_done.json"]
    assert len(records) == 4 and len({r["pid"] for r in records}) == 2  # the base and 3 checkpoints, one restorer
    assert not [p for p in (tmp_path / "two").rglob("*") if ".tmp-" in p.name or p.suffix == ".lock"]
    s1 = json.loads((tmp_path / "one" / "summary.json").read_text())
    s2 = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert [c["step"] for c in s1["checkpoints"]] == [c["step"] for c in s2["checkpoints"]]
    assert abs(s1["base"] - s2["base"]) < 1e-9  # the base is evaluated from (near-)equal weights
