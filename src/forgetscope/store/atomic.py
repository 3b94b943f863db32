"""Atomic writes: a reader sees the old file, the new file, or nothing; never half a file.

Files are written to a temporary sibling and moved into place with `os.replace`; folders are built
under a temporary name and renamed when complete. A temporary's name says who wrote it
(`<name>.tmp-<host tag>-<pid>-<random>`), so a leftover of a killed process is told apart from the
temporary of a live one (another process sharing the run folder) and only the former is removed.
Files and folders get the permissions the user's umask gives (not mkstemp's private 0600).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forgetscope.errors import UserError
from forgetscope.store import stop

TMP_MARK = ".tmp-"
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TMP = re.compile(r"\.tmp-([0-9a-f]{8})-(\d+)-")
UNKNOWN_TMP_AGE = 3600.0  # a temporary not named by this version counts as stale after an hour


class UnsafePath(UserError):
    """A delete or overwrite that would leave the run folder or pass through a symbolic link."""


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it (at import, before any thread writes)
    os.umask(mask)
    return mask


UMASK = _umask()
FILE_MODE = 0o666 & ~UMASK
DIR_MODE = 0o777 & ~UMASK


def tmp_name(name: str) -> str:
    return f"{name}{TMP_MARK}{HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(tmp_name(path.name))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        stop.point(f"write:{path}")
        os.replace(tmp, path)
    except BaseException as e:
        name_target(e, path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; on success it is renamed to `path`, on failure removed.

    With `replace=False` an existing `path` is an error (the caller should have checked it is done).
    A `path` that is a symbolic link is never replaced (the link's target may lie anywhere).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        raise UnsafePath(f"{path}: is a symbolic link; forgetscope does not replace what a link points to")
    tmp = path.with_name(tmp_name(path.name))
    tmp.mkdir(mode=DIR_MODE)
    try:
        yield tmp
        _umask_modes(tmp)
        stop.point(f"write:{path}")
        if path.exists():
            if not replace:
                raise FileExistsError(path)
            old = path.with_name(tmp_name(path.name))
            os.replace(path, old)
            os.replace(tmp, path)
            remove_tree(old)
        else:
            os.replace(tmp, path)
    except BaseException as e:
        name_target(e, path)
        shutil.rmtree(tmp, ignore_errors=True)
        raise


WRITING = "while writing "


def name_target(e: BaseException, path: Path) -> None:
    """Note on `e` the file or folder being written: a library's writer refused by the machine (disk
    full) often raises without naming it (safetensors, torch.save); the command line's one line does."""
    if isinstance(e, Exception) and not any(n.startswith(WRITING) for n in getattr(e, "__notes__", ())):
        e.add_note(f"{WRITING}{path}")


def _umask_modes(folder: Path) -> None:
    """Give what a library wrote into `folder` the umask's modes: transformers' save_pretrained writes
    model.safetensors 0600 (a temporary file moved into place) beside a 0644 config.json."""
    for root, dirs, files in os.walk(folder):
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                os.chmod(p, FILE_MODE | (os.stat(p).st_mode & 0o111 & ~UMASK))
        for name in dirs:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                os.chmod(p, DIR_MODE)


def remove_tree(path: Path) -> None:
    """Remove a file, a folder (never following a link inside it) or a link itself (not its target)."""
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def is_stale_tmp(path: Path, now: float | None = None) -> bool:
    """A temporary whose writer is gone: written on this host by a process that no longer runs (or
    by an unknown writer more than an hour ago). Another host's temporaries are never touched."""
    m = _TMP.search(path.name)
    if m is None:
        try:
            return (now or time.time()) - path.lstat().st_mtime > UNKNOWN_TMP_AGE
        except FileNotFoundError:
            return False
    host, pid = m.group(1), int(m.group(2))
    return host == HOST_TAG and pid != os.getpid() and not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_tmp(folder: str | os.PathLike) -> list[Path]:
    """Delete leftovers of interrupted writes directly inside `folder` (not a live process's
    temporaries); returns what was removed."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return []
    removed = []
    for child in folder.iterdir():
        if TMP_MARK in child.name and is_stale_tmp(child):
            remove_tree(child)
            removed.append(child)
    return removed


def sweep_stale_tmp(root: str | os.PathLike) -> list[Path]:
    """`remove_stale_tmp` in `root` and every folder below it (links are not followed)."""
    removed = []
    for dirpath, dirnames, _ in os.walk(root, followlinks=False):
        removed += remove_stale_tmp(dirpath)
        dirnames[:] = [d for d in dirnames if TMP_MARK not in d]
    return removed

