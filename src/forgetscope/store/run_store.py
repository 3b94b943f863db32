"""The run folder. Stages and their units are done only when their completion record exists.

Layout (docs/outputs.md); every stage runs through forgetscope.studies.stages.run_stage:

    RUN_DIR/config.yaml          resolved config
    RUN_DIR/manifest.json        versions, git hash, seeds, timestamps
    RUN_DIR/seed-<s>/<stage>/    one folder per stage and seed; `_done.json` marks it complete
    RUN_DIR/results/             tidy tables gathered from every seed
    RUN_DIR/summary.json, RUN_DIR/report.html

Several processes (or machines sharing the folder) may work on the same stage: each unit of work is
claimed with an exclusive lock file first, so no two write the same unit.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from forgetscope.store.atomic import atomic_write_json, remove_stale_tmp

DONE = "_done.json"


class StageDir:
    """One stage's folder: done when `_done.json` exists; units inside it have their own records."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def done(self) -> bool:
        return (self.path / DONE).exists()

    def record(self) -> dict[str, Any]:
        return json.loads((self.path / DONE).read_text())

    def start(self) -> Path:
        """Prepare a not-done stage: remove temp leftovers and dead processes' locks of an interrupted
        attempt, keep done units."""
        self.path.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(self.path)
        for lock in self.path.glob("*.lock"):
            if _lock_is_stale(lock):
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
        return self.path

    def reset(self) -> Path:
        """Start a stage that has no units from scratch: what an interrupted attempt left is
        discarded (locks stay: the caller may hold the stage's)."""
        self.path.mkdir(parents=True, exist_ok=True)
        for child in self.path.iterdir():
            if child.suffix == ".lock":
                continue
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        return self.path

    def mark_done(self, info: dict[str, Any] | None = None) -> None:
        atomic_write_json(self.path / DONE, {"finished": _now(), **(info or {})})

    # -- units: independent pieces of a stage (one checkpoint's restoration, say) -----------------
    def unit_done(self, name: str) -> bool:
        return (self.path / f"{name}{DONE}").exists()

    def mark_unit_done(self, name: str, info: dict[str, Any] | None = None) -> None:
        record = {"finished": _now(), "host": socket.gethostname(), "pid": os.getpid(), **(info or {})}
        atomic_write_json(self.path / f"{name}{DONE}", record)

    @contextlib.contextmanager
    def exclusive(self, poll: float = 0.5) -> Iterator[bool]:
        """Hold a whole stage. Yields True to the one process that should run it now; False when
        another process finished it meanwhile (this one waited for it)."""
        while True:
            with self.claim("_stage") as mine:
                if mine:
                    yield not self.done
                    return
            if self.done:
                yield False
                return
            time.sleep(poll)

    def run_units(self, names: Sequence[str], work: Callable[[str], None], *, on_unit: Callable[[], None] | None = None,
                  poll: float = 0.5) -> None:
        """Run every unit not done yet, each under its lock, and wait for units other processes
        hold; `work(name)` must end with `mark_unit_done(name)`."""
        pending = [n for n in names if not self.unit_done(n)]
        for _ in range(len(names) - len(pending)):
            if on_unit:
                on_unit()
        while pending:
            progressed = False
            for name in pending:
                with self.claim(name) as mine:
                    if mine and not self.unit_done(name):
                        work(name)
                        progressed = True
                if self.unit_done(name) and on_unit:
                    on_unit()
            pending = [n for n in pending if not self.unit_done(n)]
            if pending and not progressed:
                time.sleep(poll)

    @contextlib.contextmanager
    def claim(self, name: str) -> Iterator[bool]:
        """Try to take the exclusive lock of a unit. Yields False when another live process holds it."""
        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.path / f"{name}.lock"
        got = _try_lock(lock)
        try:
            yield got
        finally:
            if got:
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()


def _try_lock(lock: Path) -> bool:
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": _now()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _lock_is_stale(lock):
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                continue
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return True
    return False


def _lock_is_stale(lock: Path) -> bool:
    """A lock is stale when its holder ran on this host and is no longer alive."""
    try:
        holder = json.loads(lock.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        # Being written right now, or garbage: only garbage older than a minute counts as stale.
        with contextlib.suppress(OSError):
            return time.time() - lock.stat().st_mtime > 60
        return False
    if holder.get("host") != socket.gethostname():
        return False
    pid = int(holder.get("pid", -1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class RunStore:
    """Paths of one run folder; knows nothing about what the stages compute."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def stage(self, name: str, seed: int | None = None) -> StageDir:
        base = self.root if seed is None else self.root / f"seed-{seed}"
        return StageDir(base / name)

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    @property
    def summary_path(self) -> Path:
        return self.root / "summary.json"

    @property
    def report_path(self) -> Path:
        return self.root / "report.html"
