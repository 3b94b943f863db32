"""Optional experiment trackers (`runtime.report_to`: tensorboard, wandb, trackio); none by default.

When a trajectory run's analysis finishes, its numbers go to each tracker against the step:
`train/<phase>_loss` for every optimizer step of pre-training and fine-tuning, and for every probe
`<probe>/checkpoint` and `<probe>/<restorer condition>` at each checkpoint's step (step 0 = the
base). They are written from the run's own tables, so a resumed or re-analysed run logs the same
values; TensorBoard writes event files under `<run>/tracking/tensorboard` (nothing leaves the
machine), wandb and trackio log as they are configured (WANDB_MODE=offline keeps wandb local).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from forgetscope.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio"}


def check_trackers(names: Sequence[str]) -> None:
    """A one-line error before any compute when a tracker's package is not installed."""
    for name in names:
        if importlib.util.find_spec(PACKAGES[name]) is None:
            raise UserError(f"runtime.report_to: {name} needs its package: pip install {PACKAGES[name]}")


def run_points(tables: dict[str, pd.DataFrame], summary) -> Iterator[tuple[str, int, float]]:
    """(tag, step, value) of one run: training losses (mean over seeds), then every probe's score
    per checkpoint and restorer (the seed means of summary.json)."""
    logs = tables.get("train_log")
    if logs is not None and not logs.empty:
        for (phase, step), g in logs.groupby(["phase", "step"], sort=True):
            yield f"train/{phase}_loss", int(step), float(g["loss"].mean())
    for name, ps in sorted(summary.probes.items()):
        if ps.base is not None:
            yield f"{name}/checkpoint", 0, float(ps.base)
        if ps.restored_base is not None:
            yield f"{name}/{ps.restorer}", 0, float(ps.restored_base)
        for c in ps.checkpoints:
            if c.score is not None:
                yield f"{name}/checkpoint", c.step, float(c.score)
            if c.restored is not None:
                yield f"{name}/{ps.restorer}", c.step, float(c.restored)


def report(names: Sequence[str], run_dir: Path, run_name: str, config: dict, points: list[tuple[str, int, float]]) -> None:
    for name in names:
        if name == "tensorboard":
            _tensorboard(run_dir / "tracking" / "tensorboard", points)
        elif name == "wandb":
            import wandb

            run = wandb.init(project="forgetscope", name=run_name, config=config, dir=str(run_dir / "tracking"), reinit=True)
            for tag, step, value in points:
                run.log({tag: value, "step": step})
            run.finish()
        elif name == "trackio":
            import trackio

            trackio.init(project="forgetscope", name=run_name, config=config)
            for tag, step, value in points:
                trackio.log({tag: value}, step=step)
            trackio.finish()


def _tensorboard(folder: Path, points: list[tuple[str, int, float]]) -> None:
    import shutil

    from torch.utils.tensorboard import SummaryWriter

    shutil.rmtree(folder, ignore_errors=True)  # one run, one event file: a re-analysis replaces it
    writer = SummaryWriter(log_dir=str(folder))
    for tag, step, value in points:
        writer.add_scalar(tag, value, global_step=step)
    writer.close()
