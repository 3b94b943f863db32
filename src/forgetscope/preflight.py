"""Fail before compute: what a config names is checked in seconds, by `forgetscope validate` and at
the start of `forgetscope run`, before any training. Each kind of check is its own function:

    configs        the numbers are bounded in the config models themselves (pydantic; every number
                   has an upper bound or a cross-check); here, the configs a config names
                   (conjugate `fact_world.build`) and the run it reads (`fact_world.run`)
    model folders  every local model folder (a ModelSpec anywhere in the config, an mt_model
                   transform's folder): config.json, safetensors headers and sizes, adapter and base,
                   tokenizer files (forgetscope.models.checks)
    the store      the run folder (`--out`): not a file, not foreign content, its config.yaml and
                   manifest.json readable and of this config, no symbolic link in it, writable
    data files     (data files, probe files, held-out text: added with the datasets loader)

Nothing here writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from forgetscope.errors import UserError


def preflight(cfg: BaseModel, run_dir: Path | None = None) -> None:
    """Every check below, in order; the first problem is a one-line UserError."""
    check_config_references(cfg)
    check_model_folders(cfg)
    if run_dir is not None:
        check_store(run_dir, cfg)


# -- configs ---------------------------------------------------------------------------------------
def check_config_references(cfg: BaseModel) -> None:
    """Configs and runs a config names: the conjugate study's trajectory config (`fact_world.build`)
    is validated like any config; its trajectory run (`fact_world.run`), when it exists, must be
    readable."""
    fw = getattr(cfg, "fact_world", None)
    if fw is None:
        return
    from forgetscope.studies.registry import load_config

    if fw.build is not None:
        study, tcfg = load_config(Path(fw.build))
        if study.name != "trajectory":
            raise UserError(f"{fw.build}: fact_world.build needs a trajectory config, got study {study.name!r}")
        check_model_folders(tcfg)


# -- model folders ---------------------------------------------------------------------------------
def model_specs(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """(field path, ModelSpec) for every model spec anywhere in a config."""
    from forgetscope.models import ModelSpec

    if isinstance(node, ModelSpec):
        yield where, node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from model_specs(getattr(node, name), f"{where}.{name}" if where else name)
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from model_specs(item, f"{where}.{i}")


def transform_folders(node: Any, where: str = "") -> Iterator[tuple[str, Path]]:
    """(field path, folder) of every model-backed transform (mt_model) in a config."""
    from forgetscope.suites.base import TransformSpec

    if isinstance(node, TransformSpec):
        if node.name == "mt_model" and isinstance(node.options.get("path"), str):
            yield where, Path(node.options["path"]).expanduser()
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from transform_folders(getattr(node, name), f"{where}.{name}" if where else name)
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from transform_folders(item, f"{where}.{i}")


def check_model_folders(cfg: BaseModel) -> None:
    """Every local model folder the config names, as forgetscope.models.checks checks it (hub ids
    are checked when they are loaded: nothing here goes to the network)."""
    from forgetscope.models.checks import check_model_folder, check_tokenizer_files, is_local_path

    for where, spec in model_specs(cfg):
        if is_local_path(spec.path):
            path = Path(spec.path).expanduser()
            _named(where, check_model_folder, path)
            _named(where, check_tokenizer_files, path)
    for where, path in transform_folders(cfg):
        _named(where, check_model_folder, path, adapter_ok=False)


def _named(where: str, check, *args, **kwargs) -> None:
    try:
        check(*args, **kwargs)
    except UserError as e:
        raise UserError(f"{e} (named by {where})") from None


# -- the store -------------------------------------------------------------------------------------
def check_store(run_dir: Path, cfg: BaseModel) -> None:
    """The run folder a run would use: what prepare_run refuses, found before any work."""
    from forgetscope.runs import check_resume, read_manifest
    from forgetscope.store import RunStore

    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir}: is a file, not a run folder; choose another --out")
    if not run_dir.exists():
        parent = next((p for p in run_dir.absolute().parents if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
            raise UserError(f"{parent}: permission denied: the run folder {run_dir} cannot be created there")
        return
    store = RunStore(run_dir)
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise UserError(f"{run_dir}: permission denied: the run folder is not writable")
    check_resume(store, cfg)
    if not store.config_path.exists():
        return
    read_manifest(store)
    store.guard.refuse_links()
