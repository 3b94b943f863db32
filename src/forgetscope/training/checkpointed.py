"""Training with checkpoints on a schedule, resumable: what every fine-tuning stage does.

"Load from X, train N steps, save to Y" stays visible in the stage that calls this; here live the
parts every such stage shares: find the step to resume from, keep the loss of every step, save each
scheduled checkpoint with its optimizer state (and the losses so far) beside it, write the training
log, drop the optimizer states when done. Batches are a function of the step, so a resumed run
equals an uninterrupted one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from forgetscope.distributed import is_main
from forgetscope.execution import Reporter
from forgetscope.store import atomic_write_bytes, stop
from forgetscope.store.atomic import remove_stale_tmp
from forgetscope.training.checkpoints import CheckpointFolder
from forgetscope.training.config import TrainConfig
from forgetscope.training.loop import TrainResult, train

TRAIN_LOG = "train_log.parquet"


def write_train_log(folder: Path, losses: Sequence[tuple[int, float]]) -> None:
    """`train_log.parquet`: one row per optimizer step (step counted from 1) and its loss."""
    log = pd.DataFrame(list(losses), columns=["step", "loss"]).drop_duplicates("step", keep="last")
    atomic_write_bytes(folder / TRAIN_LOG, log.to_parquet(index=False))


def _read_losses(rows: list[list]) -> None:
    """Replace the device tensors among the rows' losses by floats, in place, with one host read."""
    at = [i for i, r in enumerate(rows) if isinstance(r[1], torch.Tensor)]
    if at:
        for i, value in zip(at, torch.stack([rows[i][1] for i in at]).tolist(), strict=True):
            rows[i][1] = value


def keep_last_checkpoint_as(folder: Path, name: str) -> None:
    """After a run whose only checkpoint is its last step (a base's pre-training): move that checkpoint
    to `folder/name` and drop the checkpoint folder."""
    ckpts = CheckpointFolder(folder / "checkpoints")
    steps = sorted(p for p in ckpts.path.iterdir() if p.is_dir())
    steps[-1].rename(folder / name)
    shutil.rmtree(ckpts.path)


def train_with_checkpoints(
    folder: Path,
    start_model: Callable[[Path | None], Any],
    batches,
    cfg: TrainConfig,
    schedule: Sequence[int],
    *,
    seed: int,
    save_checkpoint: Callable[[Any, Path, dict | None], None],
    reporter: Reporter,
    title: str = "finetune",
    **train_kwargs: Any,
) -> tuple[TrainResult, int]:
    """Train for `cfg.steps` steps, keeping a checkpoint at every step of `schedule` in
    `folder/checkpoints/step-NNNNNN/`, and write `folder/train_log.parquet`.

    `start_model(checkpoint)` gives the model to train: the starting model for None, or the model with
    the weights of `checkpoint` (a folder written by `save_checkpoint`) when resuming.
    `save_checkpoint(model, target, full_state)` writes one checkpoint folder (`full_state`: the state
    dict gathered from a sharded model, else None). Returns (result, the step it resumed from).
    """
    ckpts = CheckpointFolder(folder / "checkpoints")
    ckpts.path.mkdir(parents=True, exist_ok=True)
    if is_main():
        remove_stale_tmp(ckpts.path)  # a checkpoint or optimizer state half-written when a run was killed
    resume_step, state = ckpts.resume_point(schedule)
    model = start_model(ckpts.model(resume_step) if resume_step else None)
    losses: list[list] = []
    resume = None
    if resume_step:
        losses = [list(r) for r in state.get("losses", [])]
        resume = (resume_step, ckpts.state_file(resume_step))
        reporter.log(f"{title} resumes at step {resume_step}")

    def save(m, step: int, state: dict, model_state: dict | None = None) -> None:
        save_checkpoint(m, ckpts.model(step), model_state)
        if state:  # a sharded run keeps no optimizer state: it restarts from step 0
            _read_losses(losses)
            ckpts.save_state(step, {**state, "losses": [r for r in losses if r[0] <= step]})
        stop.point(f"checkpoint:{os.path.abspath(ckpts.model(step))}")

    def on_step(step: int, loss) -> None:
        losses.append([step, loss])  # a device tensor, read at the next save or the end
        reporter.advance()

    reporter.start(title, cfg.steps)
    if resume_step:
        reporter.advance(resume_step)
    result = train(model, batches, cfg, seed=seed, save_steps=schedule, save=save, resume=resume, on_step=on_step, **train_kwargs)
    if is_main():
        _read_losses(losses)
        write_train_log(folder, losses)
        ckpts.clear_states()
    return result, resume_step
