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


def run_stages(ctx: StudySeed, stages: Sequence[Callable[[Any], object]]) -> int:
    """Run one seed's stages in order (each skips itself when done); returns the seed."""
    for stage in stages:
        stage(ctx)
    ctx.reporter.start("done", 1)
    ctx.reporter.advance()
    return ctx.seed
