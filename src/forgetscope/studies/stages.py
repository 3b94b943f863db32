"""The one way every stage of every study runs.

Skip the stage when its done record exists; otherwise take its lock (a whole stage) or each unit's
lock (a stage of independent units: one model's evaluation, one restoration), run what is not done,
mark each unit done as it finishes, then the stage. Several processes, or machines sharing the run
folder, can run the same study at once: a unit is run by one of them, the others wait for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from forgetscope.distributed import barrier, from_main, is_main, launched
from forgetscope.execution import Reporter
from forgetscope.store import StageDir

WHOLE = "stage"  # the unit name `work` receives when the stage is one piece of work

Work = Callable[[str], dict[str, Any] | None]


def run_stage(stage: StageDir, work: Work, units: Sequence[str] | None = None, *, reporter: Reporter | None = None,
              title: str = "", together: bool = False, fresh: bool = False, record: dict[str, Any] | None = None) -> None:
    """Run `stage` unless it is done.

    units=None: the stage is one piece of work; `work(WHOLE)` returns the stage's done record.
      `fresh`: it starts from an empty folder (what an interrupted attempt left is discarded);
      otherwise leftovers stay for the work to resume from (fine-tuning checkpoints).
      `together`: under a launcher the whole process group runs it as one job (training: DDP, FSDP,
      DeepSpeed); only the main process writes and marks it done.
    units=[...]: `work(unit)` runs one unit, writing files named after it, and returns the unit's
      record; the stage's own record is `record`. With a `reporter`, a bar of `title` counts units.
    """
    if stage.done:
        return
    if units is None:
        _run_whole(stage, work, together=together, fresh=fresh)
        return
    stage.start()
    if reporter is not None:
        reporter.start(title, len(units))

    def one(unit: str) -> None:
        stage.mark_unit_done(unit, work(unit))

    stage.run_units(list(units), one, on_unit=reporter.advance if reporter is not None else None)
    stage.mark_done(record)


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
            info = work(WHOLE)
            if is_main():
                stage.mark_done(info)
        if group:
            barrier()
