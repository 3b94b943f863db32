"""The cache of pre-trained synthetic bases, keyed by a hash of everything that generates them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forgetscope.distributed import from_main, is_main
from forgetscope.store import atomic_dir

COMPLETE = "_complete"


def cache_root(configured: str | None = None) -> Path:
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get("FORGETSCOPE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "forgetscope"


def cached(kind: str, key: str, configured: str | None = None) -> Path | None:
    path = cache_root(configured) / kind / key
    return path if (path / COMPLETE).exists() else None


def put(kind: str, key: str, source: Path, configured: str | None = None) -> Path:
    """Copy a finished folder into the cache (atomically; a concurrent writer of the same key wins)."""
    dest = cache_root(configured) / kind / key
    if (dest / COMPLETE).exists():
        return dest
    try:
        with atomic_dir(dest, replace=True) as tmp:
            shutil.copytree(source, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.lock", "_done.json"))
            (tmp / COMPLETE).write_text(key)
    except OSError:
        pass  # the cache is an optimisation: a read-only or full disk must not fail the run
    return dest


def cached_or_build(kind: str, key: str, folder: Path, build: Callable[[Path], dict[str, Any]], *,
                    configured: str | None = None, on_hit: Callable[[], None] | None = None) -> dict[str, Any]:
    """Fill `folder` from the cache entry `key` of `kind`, or run `build(folder)` and put the result
    in the cache. Returns the stage's done record: the key, whether it came from the cache, and what
    `build` returned. Under a launcher the whole process group builds together (it trains); the main
    process alone copies and writes."""
    hit = from_main(cached(kind, key, configured))
    if hit is not None:
        if is_main():
            if on_hit is not None:
                on_hit()
            for entry in hit.iterdir():
                if entry.name == COMPLETE:
                    continue
                if entry.is_dir():
                    shutil.copytree(entry, folder / entry.name)
                else:
                    shutil.copy(entry, folder / entry.name)
        return {"cache_key": key, "from_cache": True}
    info = build(folder)
    if is_main():
        put(kind, key, folder, configured)
    return {"cache_key": key, "from_cache": False, **info}
