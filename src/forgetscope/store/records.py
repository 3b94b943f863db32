"""Completion records that vouch for what they complete: every file a stage (or a unit of a stage)
wrote, with its size and SHA-256. A record is believed only after the files it names are checked; a
missing, resized or changed file is damage, and damage means the work is done again, never that the
damaged file is used.

    {"finished": ..., <what the stage returned>, "record_format": 2,
     "outputs": {"<path relative to the stage folder>": {"bytes": n, "sha256": "..."}, ...}}

A stage made of units vouches for its units' records instead (`"unit_records": {unit: sha256 of the
unit's record}`), and each unit record for the unit's files: files named `<unit>` or `<unit>.<...>`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from forgetscope.store.atomic import TMP_MARK

RECORD_FORMAT = 2
DONE = "_done.json"
DAMAGED = "_damaged.json"  # a record found damaged, kept until the work is redone (to compare with)
LOCK = ".lock"


def notice(message: str) -> None:
    """One line on stderr that the run noticed something and what it does about it (not an error)."""
    sys.stderr.write(f"forgetscope: {message}\n")
    sys.stderr.flush()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def is_bookkeeping(name: str) -> bool:
    """Records, locks and temporaries: not outputs of the work."""
    return name.endswith((DONE, DAMAGED, LOCK)) or TMP_MARK in name


def stage_files(folder: Path) -> list[Path]:
    """Every regular file the work wrote in `folder` (recursively), bookkeeping left out."""
    out = []
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        if is_bookkeeping(p.name) or p.is_symlink():
            continue
        if p.is_dir():
            out += [f for f in sorted(p.rglob("*")) if f.is_file() and not f.is_symlink()
                    and not any(TMP_MARK in part for part in f.relative_to(folder).parts)]
        elif p.is_file():
            out.append(p)
    return out


def unit_files(folder: Path, unit: str) -> list[Path]:
    """The files of one unit: `<unit>` itself or anything named `<unit>.<...>` (files or folders)."""
    return [f for f in stage_files(folder) if f.relative_to(folder).parts[0] == unit
            or f.relative_to(folder).parts[0].startswith(unit + ".")]


def fingerprint(folder: Path, files: Iterable[Path]) -> dict[str, dict[str, Any]]:
    return {f.relative_to(folder).as_posix(): {"bytes": f.stat().st_size, "sha256": sha256_file(f)} for f in files}


def damage(folder: Path, outputs: dict[str, Any]) -> str | None:
    """The first file of `outputs` that is not as recorded (a phrase naming it), or None."""
    for rel, want in outputs.items():
        f = folder / rel
        if f.is_symlink():
            return f"{f}: is a link, not the file that was written"
        if not f.is_file():
            return f"{f}: missing"
        size = f.stat().st_size
        if size != want["bytes"]:
            return f"{f}: {size} bytes, its record says {want['bytes']}"
        if sha256_file(f) != want["sha256"]:
            return f"{f}: its content differs from its record (SHA-256)"
    return None


def read_record(path: Path) -> tuple[dict | None, str | None]:
    """(record, None), or (None, why it cannot be believed)."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None, f"{path}: missing"
    except (OSError, ValueError) as e:
        return None, f"{path}: not a readable record ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    if not isinstance(data, dict):
        return None, f"{path}: not a readable record (not a JSON object)"
    if data.get("record_format") != RECORD_FORMAT or not isinstance(data.get("outputs", data.get("unit_records")), dict):
        return None, f"{path}: written by another forgetscope version; it vouches for no file"
    return data, None
