"""Run folders at the run level: the resolved config and the manifest; which study a folder holds."""

from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path

import yaml
from pydantic import BaseModel

from forgetscope import __version__
from forgetscope.config import config_hash, dump_yaml
from forgetscope.errors import UserError
from forgetscope.store import RunStore, atomic_write_json, atomic_write_text


def prepare_run(run_dir: str | Path, cfg: BaseModel) -> RunStore:
    """Create the run folder, or check that an existing one holds the same config (then it resumes)."""
    store = RunStore(run_dir)
    text = dump_yaml(cfg)
    if store.config_path.exists():
        old = yaml.safe_load(store.config_path.read_text())
        if _resume_key(old) != _resume_key(cfg.model_dump(mode="json")):
            raise UserError(
                f"{store.root}: holds a run of a different config; resume it with `forgetscope run {store.config_path}`, "
                "or choose another --out"
            )
    store.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(store.config_path, text)
    manifest = _read_manifest(store)
    manifest.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    manifest.update({
        "study": getattr(cfg, "study", None),
        "config_hash": config_hash(cfg.model_dump(mode="json")),
        "forgetscope_version": __version__,
        "git_commit": git_commit(),
        "git_source_modified": git_source_modified(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "host": platform.node(),
    })
    manifest.setdefault("attempts", []).append(time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    atomic_write_json(store.manifest_path, manifest)
    return store


def _resume_key(data: dict) -> str:
    """What must match for a run to resume: the config, except how many processes share the work."""
    data = {**data, "runtime": {k: v for k, v in (data.get("runtime") or {}).items() if k != "workers"}}
    return config_hash(data)


def _read_manifest(store: RunStore) -> dict:
    import json

    if store.manifest_path.exists():
        return json.loads(store.manifest_path.read_text())
    return {}


def _version(pkg: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The commit of the forgetscope source tree, when it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def git_source_modified(here: Path | None = None) -> bool | None:
    """Whether the package's tracked source (or `here`'s) differs from its commit: then the commit
    alone does not say which code made the numbers. None outside a git checkout."""
    here = here or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--", "."],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def study_of(run_dir: str | Path) -> str:
    store = RunStore(run_dir)
    if not store.config_path.exists():
        raise UserError(f"{run_dir}: not a forgetscope run folder (no config.yaml)")
    data = yaml.safe_load(store.config_path.read_text()) or {}
    return str(data.get("study", "unknown"))
