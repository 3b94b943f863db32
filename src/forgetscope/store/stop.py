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

Neither is meant for normal use; unset, a point costs two environment lookups.
"""

from __future__ import annotations

import fnmatch
import os
import signal

KILL_AT = "FORGETSCOPE_KILL_AT"
KILL_TRACE = "FORGETSCOPE_KILL_TRACE"


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


def _kill() -> None:
    group = os.getpgid(0)
    if group in (os.getpid(), os.getppid()):
        os.killpg(group, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
