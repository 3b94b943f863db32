"""What the studies share about one seed: its context (config, run store, seed, progress) and the
loop that runs its stages in order. Each study subclasses the context with where its things are."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from forgetscope.distributed import device_for
from forgetscope.execution import Reporter
from forgetscope.store import RunStore


@dataclass
class StudySeed:
    cfg: Any
    store: RunStore
    seed: int
    reporter: Reporter

    def stage(self, name: str):
        return self.store.stage(name, self.seed)

    @property
    def device(self) -> torch.device:
        return device_for(self.cfg.runtime.device)


def run_seed_stages(ctx: StudySeed, stages: Sequence[Callable[[Any], object]]) -> int:
    """Run one seed's stages in order (each skips itself when done); returns the seed."""
    for stage in stages:
        stage(ctx)
    ctx.reporter.start("done", 1)
    ctx.reporter.advance()
    return ctx.seed


# -- which finished stages a changed config can keep ---------------------------------------------------
KEYS_FILE = "_stage_keys.json"


def stage_keys(cfg: dict, inputs: Sequence[tuple[str, Sequence[str]]]) -> dict[str, str]:
    """A key per stage, in stage order: a hash of the config sections it reads and of every earlier
    stage's (a stage's output depends on what came before). `inputs`: (stage, dotted config paths).
    A path that is null adds nothing: a new optional key, unset, keeps the keys of runs made before it."""
    from forgetscope.config import config_hash

    def get(path: str):
        node: Any = cfg
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    keys, seen = {}, []
    for stage, paths in inputs:
        seen += [(p, get(p)) for p in paths if get(p) is not None]
        keys[stage] = config_hash(seen)
    return keys


def drop_stale_stages(store: RunStore, seeds: Sequence[int], keys: dict[str, str], before: dict[str, str] | None) -> list[str]:
    """Remove each finished stage whose key differs from `keys` (the config it read has changed), so
    it runs again; keep every other. A seed folder without a keys file was made under `before` (the
    previous config's keys; None: this config's). Returns the removed stage folders."""
    import json
    import shutil

    from forgetscope.store import atomic_write_json

    removed = []
    for seed in seeds:
        path = store.root / f"seed-{seed}" / KEYS_FILE
        stored = json.loads(path.read_text()) if path.exists() else (before or keys)
        for stage, key in keys.items():
            folder = store.stage(stage, seed)
            if folder.done and stored.get(stage) != key:
                trash = folder.path.with_name(f".{folder.path.name}.stale")
                shutil.rmtree(trash, ignore_errors=True)
                folder.path.rename(trash)  # atomic: the stage is no longer done
                shutil.rmtree(trash)
                removed.append(str(folder.path.relative_to(store.root)))
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, keys)
    return removed
