"""The checkpoint folder of a training stage: `step-NNNNNN/` for every kept step and, beside the latest
one, its optimizer state, so an interrupted stage resumes there (batches are a function of the step,
so the result equals an uninterrupted run). The states go when the stage is done.

The state file vouches for its checkpoint (size and SHA-256 of each file): a checkpoint damaged
after it was saved, or a state file that cannot be read, is never resumed from; training starts
over from step 0 instead, with a one-line notice."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from forgetscope.store.records import damage, fingerprint, notice, stage_files
from forgetscope.training.loop import save_train_state

STATE = ".state.pt"


def step_name(step: int) -> str:
    return f"step-{step:06d}"


class CheckpointFolder:
    def __init__(self, path: Path):
        self.path = Path(path)

    def model(self, step: int) -> Path:
        return self.path / step_name(step)

    def state_file(self, step: int) -> Path:
        return self.path / f"{step_name(step)}{STATE}"

    def save_state(self, step: int, state: dict) -> None:
        """Write step's optimizer state (vouching for the checkpoint beside it) and drop older ones
        (only the latest is needed to resume)."""
        folder = self.model(step)
        state = {**state, "checkpoint": fingerprint(folder, stage_files(folder))}
        save_train_state(self.state_file(step), state)
        for old in self.path.glob(f"*{STATE}"):
            if old != self.state_file(step):
                old.unlink()

    def resume_point(self, schedule: Iterable[int]) -> tuple[int, dict | None]:
        """(the latest step with its checkpoint and optimizer state, intact; that state), or (0, None)."""
        for step in sorted(schedule, reverse=True):
            state_file = self.state_file(step)
            if not (self.model(step).is_dir() and state_file.exists()):
                continue
            try:
                state = torch.load(state_file, map_location="cpu", weights_only=True)
                problem = damage(self.model(step), state["checkpoint"])
            except Exception as e:  # a damaged state file: any unpickling error  # noqa: BLE001
                problem = f"{state_file}: unreadable ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
            if problem is None:
                return step, state
            notice(f"{problem}: training starts again from step 0")
            return 0, None
        return 0, None

    def clear_states(self) -> None:
        for f in self.path.glob(f"*{STATE}"):
            f.unlink()
