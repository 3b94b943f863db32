"""`forgetscope ARGS` in a process of its own that starts with the libraries already imported: a
fork of one server process per test worker (multiprocessing's forkserver, which imports torch,
transformers and forgetscope's study modules once). For tests whose subject needs a real process but
not a fresh interpreter: kills (the stop hook's SIGKILL of its process group) and processes sharing
one run store. Each such process used to pay the imports anew (about 7 CPU-seconds here).

The child is a real process: its own pid and process group (as `start_new_session=True`), its own
environment (os.environ replaced by `env` before the command starts; only variables read while a
command runs take effect: the stop hook's and barrier's, FORGETSCOPE_CACHE, not those a library reads
once at import, such as huggingface_hub's cache folders: use conftest.run_cli(env=...) for those),
stdout and stderr in files, and an exit code as `python -m forgetscope` gives it (a signal: minus its
number). The entry point in a fresh interpreter is tested on its own (test_cli_errors.py).

Not a test module (no test_ prefix); imported by the tests and, in the child, by multiprocessing."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import tempfile

# What `forgetscope run` imports for each study, imported once by the server before it forks.
PRELOAD = [
    "forgetscope.cli",
    "forgetscope.studies.trajectory.main",
    "forgetscope.studies.regression.main",
    "forgetscope.studies.conjugate.main",
    "forgetscope.report.page",
]
_ctx = mp.get_context("forkserver")
_ctx.set_forkserver_preload(PRELOAD)


def _child(args: list[str], env: dict[str, str], out_path: str, err_path: str, before: str | None) -> None:
    os.setsid()  # its own process group: the stop hook's kill of the group reaches this process only
    for fd, path in ((1, out_path), (2, err_path)):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(f, fd)
        os.close(f)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["forgetscope", *args]
    if before is not None:  # code run in the child before the command (a test's fault injection)
        exec(compile(before, "<before>", "exec"), {"__name__": "__before__"})
    from forgetscope.cli import main

    main(args)


class Forked:
    """A started command: `.result(timeout)` waits for it and gives a CompletedProcess."""

    def __init__(self, args, env, before):
        self.args = ["forgetscope", *args]
        self._dir = tempfile.mkdtemp(prefix="forked-cli-")
        self._out, self._err = os.path.join(self._dir, "stdout"), os.path.join(self._dir, "stderr")
        self._p = _ctx.Process(target=_child, args=(list(args), dict(env), self._out, self._err, before), daemon=False)
        self._p.start()

    @property
    def pid(self) -> int:
        return self._p.pid

    @property
    def stderr_path(self) -> str:
        """The child's stderr, a plain file written while the command runs (removed by `.result`)."""
        return self._err

    def running(self) -> bool:
        return self._p.is_alive()

    def result(self, timeout: float = 600) -> subprocess.CompletedProcess:
        self._p.join(timeout)
        if self._p.exitcode is None:
            os.killpg(self._p.pid, 9)
            self._p.join()
            raise subprocess.TimeoutExpired(self.args, timeout)
        out, err = (open(p, encoding="utf-8", errors="replace").read() for p in (self._out, self._err))
        for p in (self._out, self._err):
            os.remove(p)
        os.rmdir(self._dir)
        return subprocess.CompletedProcess(self.args, self._p.exitcode, out, err)


def stop() -> None:
    """Stop the fork server (if running) and wait for it."""
    from multiprocessing import forkserver

    if getattr(forkserver._forkserver, "_forkserver_pid", None) is not None:
        forkserver._forkserver._stop()


def start_cli(*args, env: dict[str, str] | None = None, before: str | None = None) -> Forked:
    """Start `forgetscope ARGS` in a forked, pre-imported process with environment `env` (default: this
    process's); `before`: Python source the child runs first."""
    return Forked([str(a) for a in args], os.environ if env is None else env, before)


def forked_cli(*args, env: dict[str, str] | None = None, before: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`forgetscope ARGS` in a forked, pre-imported process (see the module's docstring), waited for."""
    return start_cli(*args, env=env, before=before).result(timeout)
