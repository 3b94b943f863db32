"""A deterministic stop hook, for tests and kill campaigns: no long runs, no timing.

The run passes named points as it works (`stage:<stage folder>:start|end`, `unit:<stage folder>/<unit>:
start|end` in forgetscope.studies.stages.run_stage; `checkpoint:<checkpoint folder>` once a fine-tuning
checkpoint and its optimizer state are saved; `write:<file>` once an atomic write's temporary is
complete, before it is renamed into place). Folders and files are absolute paths.

    FORGETSCOPE_KILL_AT=PATTERN    at the first point matching PATTERN (fnmatch: `*` matches `/` too,
                                   e.g. `stage:*/seed-0/3_finetune:end`), the process sends SIGKILL to
                                   its process group when it leads it (or its parent does: a worker of
                                   the seeds' pool), else to itself: as `kill -9` of the command would
    FORGETSCOPE_KILL_TRACE=FILE    append the name of every point passed to FILE (one a line)
    FORGETSCOPE_BARRIER_AT=PATTERN a barrier of processes: at its first point matching PATTERN, a
    FORGETSCOPE_BARRIER_DIR=DIR    process leaves a file named after its pid in DIR and waits until
    FORGETSCOPE_BARRIER_N=N        N processes have (default 2; an error after 10 minutes): e.g. every
                                   process of a launched group holds a unit of a stage at once

None is meant for normal use; unset, a point costs three environment lookups.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import time
from pathlib import Path

KILL_AT = "FORGETSCOPE_KILL_AT"
KILL_TRACE = "FORGETSCOPE_KILL_TRACE"
BARRIER_AT = "FORGETSCOPE_BARRIER_AT"
BARRIER_TIMEOUT_S = 600.0
_passed_barrier = False


def point(name: str) -> None:
    """Pass the named point: record it (KILL_TRACE) and die here if KILL_AT matches it."""
    trace = os.environ.get(KILL_TRACE)
    if trace:
        fd = os.open(trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, (name.replace("\n", " ") + "\n").encode("utf-8", "replace"))
        finally:
            os.close(fd)
    pattern = os.environ.get(KILL_AT)
    if pattern and fnmatch.fnmatchcase(name, pattern):
        _kill()
    barrier = os.environ.get(BARRIER_AT)
    if barrier and not _passed_barrier and fnmatch.fnmatchcase(name, barrier):
        _wait_at_barrier()


def _wait_at_barrier() -> None:
    global _passed_barrier
    folder = Path(os.environ["FORGETSCOPE_BARRIER_DIR"])
    n = int(os.environ.get("FORGETSCOPE_BARRIER_N", "2"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    while len(list(folder.iterdir())) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{BARRIER_AT}: {n} processes never met at the barrier in {folder}")
        time.sleep(0.05)
    _passed_barrier = True


def _kill() -> None:
    group = os.getpgid(0)
    if group in (os.getpid(), os.getppid()):
        os.killpg(group, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
