"""The one way every stage of every study runs.

Skip the stage when its done record exists and the files it vouches for are intact (damage: a one-line
notice, and the stage, or just its damaged unit, is done again); otherwise take its lock (a whole
stage) or each unit's lock (a stage of independent units: one model's evaluation, one restoration),
run what is not done, mark each unit done as it finishes, then the stage. Several processes, or
machines sharing the run folder, can run the same study at once: a unit is run by one of them, the
others wait for it.

A unit's files are named after it: `<unit>` or `<unit>.<anything>` (its record vouches for those).
A NaN or infinity met while a stage runs (forgetscope.errors.NonFiniteError) ends the run with one
line naming the study, seed, stage and unit; nothing of it is marked done. The stop hook
(forgetscope.store.stop) has its points here: `stage:<folder>:start|end`, `unit:<folder>/<unit>:start|end`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from typing import Any

from forgetscope.distributed import barrier, from_main, is_main, launched
from forgetscope.errors import NonFiniteError
from forgetscope.execution import Reporter
from forgetscope.store import StageDir, stop

WHOLE = "stage"  # the unit name `work` receives when the stage is one piece of work

Work = Callable[[str], dict[str, Any] | None]


def stage_done(stage: StageDir) -> bool:
    """Whether `stage` is done and intact; a damaged one is set aside (done again by run_stage).
    A study may call it to skip reading a done stage's inputs; run_stage calls it first."""
    return stage.intact()


def run_stage(stage: StageDir, work: Work, units: Sequence[str] | None = None, *, reporter: Reporter | None = None,
              title: str = "", together: bool = False, fresh: bool = False, record: dict[str, Any] | None = None) -> None:
    """Run `stage` unless it is done (and intact).

    units=None: the stage is one piece of work; `work(WHOLE)` returns the stage's done record.
      `fresh`: it starts from an empty folder (what an interrupted attempt left is discarded);
      otherwise leftovers stay for the work to resume from (fine-tuning checkpoints).
      `together`: under a launcher the whole process group runs it as one job (training: DDP, FSDP,
      DeepSpeed); only the main process writes and marks it done.
    units=[...]: `work(unit)` runs one unit, writing files named after it, and returns the unit's
      record; the stage's own record is `record`. With a `reporter`, a bar of `title` counts units.
    """
    group = together and launched() and units is None
    intact = from_main(stage_done(stage) if is_main() else None) if group else stage_done(stage)
    if intact:
        return
    if is_main():
        stage.path.mkdir(parents=True, exist_ok=True)
        stage.root.refuse_links(stage.path)  # nothing below may lead out of the run folder
    try:
        if units is None:
            _run_whole(stage, work, together=together, fresh=fresh)
            return
        stage.start(units)
        if reporter is not None:
            reporter.start(title, len(units))

        def one(unit: str) -> None:
            try:
                stop.point(f"unit:{os.path.abspath(stage.path)}/{unit}:start")
                info = work(unit)
                stop.point(f"unit:{os.path.abspath(stage.path)}/{unit}:end")
            except NonFiniteError as e:
                raise NonFiniteError(f"{e}, unit {unit}") from None
            stage.mark_unit_done(unit, info)

        stage.run_units(list(units), one, on_unit=reporter.advance if reporter is not None else None)
        stage.mark_done(record, units=list(units))
    except NonFiniteError as e:
        raise NonFiniteError(f"{e} ({stage.describe()}; nothing of it is marked done): {stage.path}") from None


def _run_whole(stage: StageDir, work: Work, *, together: bool, fresh: bool) -> None:
    group = together and launched()
    if group:
        barrier()
    holder = stage.exclusive() if (is_main() or not group) else contextlib.nullcontext(None)
    with holder as mine:
        run = from_main(mine) if group else mine
        if run:
            if is_main():
                stage.reset() if fresh else stage.start()
            stop.point(f"stage:{os.path.abspath(stage.path)}:start")
            info = work(WHOLE)
            stop.point(f"stage:{os.path.abspath(stage.path)}:end")
            if is_main():
                stage.mark_done(info)
        if group:
            barrier()
