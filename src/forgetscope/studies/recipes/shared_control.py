"""The restored base (the control) once for every recipe. Recipes vary only the fine-tuning: the base,
seed, restoration and probes are the same, so restoring the base again per recipe recomputes the same
numbers (byte for byte on one machine). The first recipe's run computes it; before each other recipe's
trajectory runs, its step-0 restoration units are copied into that recipe's `6_restore/` and marked done
there (the record names the source), so the trajectory study finds them done and every recipe's
analysis reads the same control."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from forgetscope.store import RunStore, atomic_write_bytes
from forgetscope.store.records import DONE, stage_files
from forgetscope.training.checkpoints import step_name
from forgetscope.views import RESTORE_STAGE

BASE_UNIT_SUFFIX = f"-{step_name(0)}"  # a restorer's unit of the base: `<condition>-step-000000`


def share_restored_base(source: str | Path, target: str | Path, seeds: Sequence[int]) -> list[str]:
    """Copy every done, intact restored-base unit of `source` (a recipe's trajectory run) into `target`'s
    restoration stage where it is not done yet; the units copied (`seed-N/<unit>`)."""
    copied = []
    for seed in seeds:
        src, dst = RunStore(source).stage(RESTORE_STAGE, seed), RunStore(target).stage(RESTORE_STAGE, seed)
        units = sorted(p.name[: -len(DONE)] for p in src.path.glob(f"*{BASE_UNIT_SUFFIX}{DONE}")) if src.path.is_dir() else []
        for unit in units:
            if dst.unit_done(unit) or src.unit_damage(unit) is not None:
                continue
            # every file of the base's restoration: the unit's own and those a continuing restorer
            # wrote in it under its own condition (`<condition>-step-000000.*`)
            for f in stage_files(src.path):
                head = f.relative_to(src.path).parts[0]
                if head.split(".")[0].endswith(BASE_UNIT_SUFFIX):
                    atomic_write_bytes(dst.path / f.relative_to(src.path), f.read_bytes())
            dst.mark_unit_done(unit, {"shared_from": str(Path(source).name), "note": "the restored base of the first recipe's run"})
            copied.append(f"seed-{seed}/{unit}")
    return copied
