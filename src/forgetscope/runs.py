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


def previous_config(run_dir: str | Path) -> dict | None:
    """The resolved config a run folder holds, or None for a new folder."""
    path = RunStore(run_dir).config_path
    return yaml.safe_load(path.read_text()) if path.exists() else None


def prepare_run(run_dir: str | Path, cfg: BaseModel, may_change: tuple[str, ...] = ()) -> RunStore:
    """Create the run folder, or check that an existing one holds the same config (then it resumes).
    The config may differ in the top-level sections `may_change` names (a study's analysis, its
    evaluation): the study then reuses every stage those sections do not feed (studies/seeds.py
    stage keys) and the manifest records what changed."""
    store = RunStore(run_dir)
    text = dump_yaml(cfg)
    new = cfg.model_dump(mode="json")
    changed: list[str] = []
    if store.config_path.exists():
        old = yaml.safe_load(store.config_path.read_text())
        if _resume_key(old, may_change) != _resume_key(new, may_change):
            fixed = [k for k in sorted(set(old) | set(new)) if k not in may_change and _resume_key({k: old.get(k)}) != _resume_key({k: new.get(k)})]
            raise UserError(
                f"{store.root}: holds a run of a different config (it differs in {', '.join(fixed) or 'runtime'}"
                f"{'; only ' + ', '.join(may_change) + ' may change in a run' if may_change else ''}); resume it with "
                f"`forgetscope run {store.config_path}`, or choose another --out"
            )
        changed = [k for k in may_change if old.get(k) != new.get(k)]
    store.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(store.config_path, text)
    manifest = _read_manifest(store)
    if changed:
        manifest.setdefault("config_changes", []).append({"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "sections": changed})
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


def _resume_key(data: dict, may_change: tuple[str, ...] = ()) -> str:
    """What must match for a run to resume: the config, except how many processes share the work
    and the sections that may change."""
    data = {k: v for k, v in data.items() if k not in may_change}
    if "runtime" in data:
        data["runtime"] = {k: v for k, v in (data.get("runtime") or {}).items() if k not in ("workers", "report_to")}
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
