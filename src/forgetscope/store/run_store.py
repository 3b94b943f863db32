"""The run folder. Stages and their units are done only when their completion record exists and the
files it vouches for are intact (forgetscope.store.records).

Layout (docs/outputs.md); every stage runs through forgetscope.studies.stages.run_stage:

    RUN_DIR/config.yaml          resolved config
    RUN_DIR/manifest.json        versions, git hash, seeds, timestamps (rewritten under manifest.json.lock)
    RUN_DIR/seed-<s>/<stage>/    one folder per stage and seed; `_done.json` marks it complete
    RUN_DIR/results/             tidy tables gathered from every seed
    RUN_DIR/summary.json, RUN_DIR/report.html

Several processes (or machines sharing the folder) may work on the same stage: each unit of work is
claimed with an exclusive lock file first, so no two write the same unit. The run folder is
resolved once (its Root); a delete or overwrite in it never leaves it nor passes through a link.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from forgetscope.store.atomic import (
    DIR_MODE,
    FILE_MODE,
    atomic_write_json,
    pid_alive,
    remove_stale_tmp,
    remove_tree,
)
from forgetscope.store.records import (
    DAMAGED,
    DONE,
    LOCK,
    RECORD_FORMAT,
    damage,
    fingerprint,
    notice,
    read_record,
    sha256_file,
    stage_files,
    unit_files,
)
from forgetscope.store.root import Root

_NUMBERED = re.compile(r"^(\d+)_")


class StageDir:
    """One stage's folder: done when `_done.json` exists and what it vouches for is intact; units
    inside it have their own records."""

    def __init__(self, path: Path, root: Root | None = None):
        self.path = Path(path)
        self.root = root or Root(self.path.parent)
        self._damaged_unit: str | None = None

    # -- names, for messages ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def seed(self) -> int | None:
        parent = self.path.parent.name
        return int(parent[5:]) if parent.startswith("seed-") and parent[5:].isdigit() else None

    def describe(self) -> str:
        """'trajectory, seed 0, stage 3_finetune' (the study from the run's config.yaml)."""
        parts = []
        with contextlib.suppress(OSError, yaml.YAMLError, AttributeError):
            study = (yaml.safe_load((self.root.real / "config.yaml").read_text()) or {}).get("study")
            if study:
                parts.append(f"study {study}")
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        parts.append(f"stage {self.name}")
        return ", ".join(parts)

    # -- completion -------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """A record exists (not checked: `check()` checks it)."""
        return (self.path / DONE).exists()

    def record(self) -> dict[str, Any]:
        from forgetscope.errors import UserError

        data, why = read_record(self.path / DONE)
        if data is None:
            raise UserError(f"{why}; re-run the study that wrote it to redo the stage")
        return data

    def check(self) -> str | None:
        """For a done stage: the first damage found (a phrase naming the file), or None when every file
        its record vouches for is intact."""
        data, why = read_record(self.path / DONE)
        if data is None:
            return why
        self._damaged_unit = None
        if "unit_records" in data:
            for unit, digest in data["unit_records"].items():
                rec = self.path / f"{unit}{DONE}"
                problem = self.unit_damage(unit)
                if problem is None and sha256_file(rec) != digest:
                    problem = f"{rec}: differs from what the stage record vouches for"
                if problem:
                    self._damaged_unit = unit
                    return problem
            return None
        return damage(self.path, data["outputs"])

    def intact(self, *, repair: bool = True) -> bool:
        """Done, and what the record vouches for is intact. Damage is reported in one line; with
        `repair` the record is set aside so the stage (or just its damaged unit) is done again."""
        if not self.done:
            return False
        problem = self.check()
        if problem is None:
            return True
        if repair:
            unit = getattr(self, "_damaged_unit", None)
            notice(f"{problem}: {self.describe()}{f', unit {unit}' if unit else ''} is done again")
            self._set_aside()
            if unit and self.unit_done(unit):
                self._set_unit_aside(unit)
        return False

    def _set_aside(self) -> None:
        """Drop a damaged stage record; keep what it vouched for (to compare the redone work with)."""
        path = self.root.inside(self.path)
        data, _ = read_record(path / DONE)
        if data is not None and "unit_records" in data:  # units are judged one by one when the stage runs again
            with contextlib.suppress(FileNotFoundError):
                (path / DONE).unlink()
            return
        previous = data["outputs"] if data is not None else fingerprint(path, stage_files(path))
        atomic_write_json(path / DAMAGED, {"previous": previous})
        with contextlib.suppress(FileNotFoundError):
            (path / DONE).unlink()

    def start(self, units: Sequence[str] = ()) -> Path:
        """Prepare a not-done stage: remove temp leftovers and dead processes' locks of an interrupted
        attempt, keep done units whose files are intact (a damaged one is done again)."""
        self.path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        path = self.root.inside(self.path)
        remove_stale_tmp(path)
        for lock in path.glob(f"*{LOCK}"):
            if _lock_is_stale(lock):
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
        for unit in units:
            if not self.unit_done(unit):
                continue
            problem = self.unit_damage(unit)
            if problem:
                notice(f"{problem}: {self.describe()}, unit {unit} is done again")
                self._set_unit_aside(unit)
        return self.path

    def reset(self) -> Path:
        """Start a stage that has no units from scratch: what an interrupted attempt left is
        discarded (locks stay: the caller may hold the stage's; so does a damaged record)."""
        self.path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        path = self.root.inside(self.path)
        for child in path.iterdir():
            if child.name.endswith((LOCK, DAMAGED)):
                continue
            remove_tree(child)
        return self.path

    def mark_done(self, info: dict[str, Any] | None = None, *, units: Sequence[str] | None = None) -> None:
        """Write the stage's record, vouching for every file in the folder (or, for a stage of units,
        for the units' records)."""
        path = self.root.inside(self.path)
        record: dict[str, Any] = {"finished": _now(), **(info or {}), "record_format": RECORD_FORMAT}
        if units is not None:
            record["unit_records"] = {u: sha256_file(path / f"{u}{DONE}") for u in units}
        else:
            record["outputs"] = fingerprint(path, stage_files(path))
            self._compare_with_damaged(path / DAMAGED, record["outputs"])
        atomic_write_json(path / DONE, record)
        with contextlib.suppress(FileNotFoundError):
            (path / DAMAGED).unlink()

    # -- units: independent pieces of a stage (one checkpoint's restoration, say) -----------------
    def unit_done(self, name: str) -> bool:
        return (self.path / f"{name}{DONE}").exists()

    def unit_damage(self, name: str) -> str | None:
        data, why = read_record(self.path / f"{name}{DONE}")
        if data is None:
            return why
        return damage(self.path, data["outputs"])

    def _set_unit_aside(self, name: str) -> None:
        path = self.root.inside(self.path)
        data, _ = read_record(path / f"{name}{DONE}")
        previous = data["outputs"] if data is not None else fingerprint(path, unit_files(path, name))
        atomic_write_json(path / f"{name}{DAMAGED}", {"previous": previous})
        with contextlib.suppress(FileNotFoundError):
            (path / f"{name}{DONE}").unlink()

    def mark_unit_done(self, name: str, info: dict[str, Any] | None = None) -> None:
        path = self.root.inside(self.path)
        outputs = fingerprint(path, unit_files(path, name))
        self._compare_with_damaged(path / f"{name}{DAMAGED}", outputs)
        record = {"finished": _now(), "host": socket.gethostname(), "pid": os.getpid(), **(info or {}),
                  "record_format": RECORD_FORMAT, "outputs": outputs}
        atomic_write_json(path / f"{name}{DONE}", record)
        with contextlib.suppress(FileNotFoundError):
            (path / f"{name}{DAMAGED}").unlink()

    def _compare_with_damaged(self, damaged: Path, outputs: dict) -> None:
        """Redone work that came out different from what the later stages read: they are done again."""
        if not damaged.exists():
            return
        try:
            previous = json.loads(damaged.read_text()).get("previous")
        except (OSError, ValueError, AttributeError):
            previous = None
        if previous != outputs:
            later = self.later_stages()
            if later:
                notice(f"{self.path}: redone with other results than before; the stages after it ({', '.join(s.name for s in later)}) "
                       "are done again")
            for stage in later:
                stage.forget()

    def later_stages(self) -> list[StageDir]:
        """The stages after this one in its folder (numbered `<n>_<name>`: they may read this one)."""
        m = _NUMBERED.match(self.name)
        if m is None or not self.path.parent.is_dir():
            return []
        out = []
        for p in sorted(self.path.parent.iterdir()):
            n = _NUMBERED.match(p.name)
            if n and p.is_dir() and int(n.group(1)) > int(m.group(1)):
                out.append(StageDir(p, self.root))
        return out

    def forget(self) -> None:
        """Drop every completion record of this stage (its units' too): all of it is done again."""
        path = self.root.inside(self.path)
        for rec in path.glob(f"*{DONE}"):
            rec.unlink()

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
        self.path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        lock = self.path / f"{name}{LOCK}"
        got = _try_lock(lock)
        try:
            yield got
        finally:
            if got:
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()


@contextlib.contextmanager
def held(lock: Path, poll: float = 0.1) -> Iterator[None]:
    """Wait for the exclusive lock file `lock`, hold it for the block (a dead holder's lock is taken over)."""
    while not _try_lock(lock):
        time.sleep(poll)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def _try_lock(lock: Path) -> bool:
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": _now()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        except FileExistsError:
            if _lock_is_stale(lock):
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                continue
            return False
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
        except BaseException:  # a full disk: no lock without its holder's name
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            raise
        return True
    return False


def _lock_is_stale(lock: Path) -> bool:
    """A lock is stale when its holder ran on this host and is no longer alive."""
    try:
        holder = json.loads(lock.read_text() or "{}")
        if not isinstance(holder, dict):
            raise ValueError("not a lock record")
    except (OSError, ValueError):
        # Being written right now, or garbage: only garbage older than a minute counts as stale.
        with contextlib.suppress(OSError):
            return time.time() - lock.stat().st_mtime > 60
        return False
    if holder.get("host") != socket.gethostname():
        return False
    try:
        pid = int(holder.get("pid", -1))
    except (TypeError, ValueError):
        return True
    if pid == os.getpid():
        return False
    return pid <= 0 or not pid_alive(pid)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class RunStore:
    """Paths of one run folder; knows nothing about what the stages compute. The folder is resolved
    once, here: every stage's deletes and overwrites are checked against it."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.guard = Root(self.root)

    def stage(self, name: str, seed: int | None = None) -> StageDir:
        base = self.root if seed is None else self.root / f"seed-{seed}"
        return StageDir(base / name, self.guard)

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
