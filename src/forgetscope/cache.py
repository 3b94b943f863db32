"""The cache of pre-trained synthetic bases, keyed by a hash of everything that generates them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from forgetscope.store import atomic_dir


def cache_root(configured: str | None = None) -> Path:
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get("FORGETSCOPE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "forgetscope"


def cached(kind: str, key: str, configured: str | None = None) -> Path | None:
    path = cache_root(configured) / kind / key
    return path if (path / "_complete").exists() else None


def put(kind: str, key: str, source: Path, configured: str | None = None) -> Path:
    """Copy a finished folder into the cache (atomically; a concurrent writer of the same key wins)."""
    dest = cache_root(configured) / kind / key
    if (dest / "_complete").exists():
        return dest
    try:
        with atomic_dir(dest, replace=True) as tmp:
            shutil.copytree(source, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.lock", "_done.json"))
            (tmp / "_complete").write_text(key)
    except OSError:
        pass  # the cache is an optimisation: a read-only or full disk must not fail the run
    return dest


def restore_into_stage(hit: Path, stage, key: str) -> None:
    """Fill a base stage from a cache entry (its model and training log) and mark it done."""
    folder = stage.reset()
    shutil.copytree(hit / "model", folder / "model")
    shutil.copy(hit / "train_log.parquet", folder / "train_log.parquet")
    stage.mark_done({"cache_key": key, "from_cache": True})
