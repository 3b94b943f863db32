"""The cache of pre-trained synthetic bases, keyed by a hash of everything that generates them.

An entry is `<cache>/<kind>/<key>/` with `_complete`, a record vouching for every file of the entry
(size and SHA-256): an entry whose files are not as recorded is removed and built again, never
copied into a run. Leftovers of an interrupted write (`<key>.tmp-*` of a process that is gone) are
removed when a run starts.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forgetscope.distributed import from_main, is_main
from forgetscope.store import Root, atomic_dir, notice
from forgetscope.store.atomic import remove_stale_tmp, remove_tree
from forgetscope.store.records import RECORD_FORMAT, damage, fingerprint, stage_files

COMPLETE = "_complete"


def cache_root(configured: str | None = None) -> Path:
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get("FORGETSCOPE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "forgetscope"


def _entry_damage(path: Path) -> str | None:
    try:
        record = json.loads((path / COMPLETE).read_text())
        outputs = record["outputs"]
        if record.get("record_format") != RECORD_FORMAT or not isinstance(outputs, dict):
            raise ValueError("another version's record")
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"{path / COMPLETE}: not a readable record ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    if Root(path).links():
        return f"{path}: holds a symbolic link"
    return damage(path, outputs)


def cached(kind: str, key: str, configured: str | None = None) -> Path | None:
    """The entry's folder when it is complete and intact; a damaged entry is removed (one-line notice)."""
    root = cache_root(configured)
    path = root / kind / key
    if not (path / COMPLETE).exists():
        return None
    problem = _entry_damage(path)
    if problem is None:
        return path
    notice(f"{problem}: the cached base is built again")
    try:
        remove_tree(Root(root).inside(path))
    except OSError:
        pass
    return None


def put(kind: str, key: str, source: Path, configured: str | None = None) -> Path:
    """Copy a finished folder into the cache (atomically; a concurrent writer of the same key wins)."""
    root = cache_root(configured)
    dest = root / kind / key
    if (dest / COMPLETE).exists():
        return dest
    try:
        (root / kind).mkdir(parents=True, exist_ok=True)
        Root(root).inside(root / kind)  # no link on the way: the replace below stays in the cache
        with atomic_dir(dest, replace=True) as tmp:
            files = [f for f in stage_files(source) if f.name != COMPLETE]
            for f in files:
                target = tmp / f.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)
            record = {"key": key, "record_format": RECORD_FORMAT, "outputs": fingerprint(tmp, [tmp / f.relative_to(source) for f in files])}
            (tmp / COMPLETE).write_text(json.dumps(record, indent=1))
    except OSError:
        pass  # the cache is an optimisation: a read-only or full disk, or a link in it, must not fail the run
    return dest


def sweep(configured: str | None = None) -> None:
    """Remove leftovers of interrupted cache writes (temporaries of processes that are gone)."""
    root = cache_root(configured)
    if not root.is_dir():
        return
    for kind in root.iterdir():
        if kind.is_dir() and not kind.is_symlink():
            try:
                remove_stale_tmp(kind)
            except OSError:
                pass


def cached_or_build(kind: str, key: str, folder: Path, build: Callable[[Path], dict[str, Any]], *,
                    configured: str | None = None, on_hit: Callable[[], None] | None = None) -> dict[str, Any]:
    """Fill `folder` from the cache entry `key` of `kind`, or run `build(folder)` and put the result
    in the cache. Returns the stage's done record: the key, whether it came from the cache, and what
    `build` returned. Under a launcher the whole process group builds together (it trains); the main
    process alone copies and writes."""
    hit = from_main(cached(kind, key, configured) if is_main() else None)
    if hit is not None:
        if is_main():
            if on_hit is not None:
                on_hit()
            for f in stage_files(hit):
                if f.name == COMPLETE:
                    continue
                target = folder / f.relative_to(hit)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)
        return {"cache_key": key, "from_cache": True}
    info = build(folder)
    if is_main():
        put(kind, key, folder, configured)
    return {"cache_key": key, "from_cache": False, **info}
