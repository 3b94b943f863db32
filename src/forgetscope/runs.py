"""Run folders at the run level: the resolved config and the manifest; which study a folder holds.

A run starts (prepare_run) under the folder's lock (`manifest.json.lock`): it refuses a folder that
is neither empty nor a run, or a run of another config, or one whose config.yaml or manifest.json is
damaged; it removes the leftovers of killed processes (temporaries) in the run folder and the cache;
then it adds this start to the manifest.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from pathlib import Path

import yaml
from pydantic import BaseModel

from forgetscope import __version__
from forgetscope.config import config_hash, dump_yaml
from forgetscope.errors import UserError
from forgetscope.hardware import cpu_summary
from forgetscope.store import RunStore, atomic_write_json, atomic_write_text
from forgetscope.store.atomic import DIR_MODE, TMP_MARK, sweep_stale_tmp
from forgetscope.store.run_store import held

LOCK = "manifest.json.lock"


def previous_config(run_dir: str | Path) -> dict | None:
    """The resolved config a run folder holds, or None for a new folder (a damaged one is a one-line error)."""
    return read_run_config(RunStore(run_dir), missing_ok=True)


def prepare_run(run_dir: str | Path, cfg: BaseModel, may_change: tuple[str, ...] = ()) -> RunStore:
    """Create the run folder, or check that an existing one holds the same config (then it resumes).
    The config may differ in the top-level sections `may_change` names (a study's analysis, its
    evaluation): the study then reuses every stage those sections do not feed (studies/seeds.py
    stage keys) and the manifest records what changed."""
    from forgetscope import cache

    store = RunStore(run_dir)
    text = dump_yaml(cfg)
    if store.root.exists() and not store.root.is_dir():
        raise UserError(f"{store.root}: is a file, not a run folder; choose another --out")
    store.root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    with held(store.root / LOCK):
        changed = check_resume(store, cfg, may_change)
        store.guard.refuse_links()
        sweep_stale_tmp(store.guard.real)
        cache.sweep(getattr(getattr(cfg, "runtime", None), "cache_dir", None))
        atomic_write_text(store.config_path, text)
        manifest = read_manifest(store)
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
            "cpu": cpu_summary(),  # model name and the flags that decide matmul speed (and so the last digits)
        })
        manifest.setdefault("attempts", []).append(time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        atomic_write_json(store.manifest_path, manifest)
    return store


def check_resume(store: RunStore, cfg: BaseModel, may_change: tuple[str, ...] = ()) -> list[str]:
    """The folder may take this run: new, empty, or a run of the same config (resumed), which may
    differ only in the sections `may_change` names. Returns those of them that changed."""
    old = read_run_config(store, missing_ok=True)
    if old is None:
        check_takeover(store)
        return []
    new = cfg.model_dump(mode="json")
    missing = _missing_key(old, new)
    if missing:
        raise UserError(f"{store.config_path}: damaged or written by another forgetscope version (no '{missing}'); it is what a "
                        "resume is checked against: restore it, or start the run in another --out")
    if resume_key(old, may_change) != resume_key(new, may_change):
        fixed = [k for k in sorted(set(old) | set(new)) if k not in may_change and resume_key({k: old.get(k)}) != resume_key({k: new.get(k)})]
        raise UserError(
            f"{store.root}: holds a run of a different config (it differs in {', '.join(fixed) or 'runtime'}"
            f"{'; only ' + ', '.join(may_change) + ' may change in a run' if may_change else ''}); resume it with "
            f"`forgetscope run {store.config_path}`, or choose another --out"
        )
    return [k for k in may_change if old.get(k) != new.get(k)]


def _missing_key(old: dict, new: dict, prefix: str = "") -> str | None:
    """The first key of the resolved config `new` that `old` (a resolved config too) lacks."""
    for key, value in new.items():
        if key not in old:
            return f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(old[key], dict) and value and old[key]:
            found = _missing_key(old[key], value, f"{prefix}{key}.")
            if found:
                return found
    return None


def check_takeover(store: RunStore) -> None:
    """A folder without config.yaml becomes a run only when it is empty (our own lock and
    temporaries aside): `--out` never takes over a folder holding something else."""
    others = sorted(p.name for p in store.root.iterdir() if p.name != LOCK and TMP_MARK not in p.name)
    if others:
        shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
        raise UserError(f"{store.root}: not empty and not a forgetscope run (no config.yaml; holds {shown}); "
                        "choose another --out, or an empty or new folder")


def read_run_config(store: RunStore, *, missing_ok: bool = False) -> dict | None:
    """The run's config.yaml as data; a damaged one is a one-line error (it is what a resume is checked against)."""
    if not store.config_path.exists():
        if missing_ok:
            return None
        raise UserError(f"{store.root}: not a forgetscope run folder (no config.yaml)")
    try:
        data = yaml.safe_load(store.config_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as e:
        raise UserError(f"{store.config_path}: damaged ({_first_line(e)}); it is what a resume is checked against: "
                        "restore it, or start the run in another --out") from None
    if not isinstance(data, dict) or "study" not in data:
        raise UserError(f"{store.config_path}: damaged (not a resolved forgetscope config); it is what a resume is checked "
                        "against: restore it, or start the run in another --out")
    return data


def resume_key(data: dict, may_change: tuple[str, ...] = ()) -> str:
    """What must match for a run to resume: the config, except how many processes share the work,
    where its scalars are tracked, and the sections that may change."""
    data = {k: v for k, v in data.items() if k not in may_change}
    if "runtime" in data:
        data["runtime"] = {k: v for k, v in (data.get("runtime") or {}).items() if k not in ("workers", "report_to")}
    return config_hash(data)


def read_manifest(store: RunStore) -> dict:
    """manifest.json as data ({} when there is none); a damaged one is a one-line error."""
    if not store.manifest_path.exists():
        return {}
    try:
        data = json.loads(store.manifest_path.read_bytes())
    except (OSError, ValueError) as e:
        raise UserError(f"{store.manifest_path}: damaged ({_first_line(e)}); delete it to start a new manifest "
                        "(it records versions and attempts; the results are checked by their own records)") from None
    if not isinstance(data, dict):
        raise UserError(f"{store.manifest_path}: damaged (not a JSON object); delete it to start a new manifest")
    return data


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


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
    return str(read_run_config(RunStore(run_dir)).get("study", "unknown"))
