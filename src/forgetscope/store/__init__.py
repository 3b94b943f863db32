"""The run store: a folder per run, atomic files, stages that are done only when recorded done."""

from forgetscope.store.atomic import (
    atomic_dir,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from forgetscope.store.run_store import RunStore, StageDir

__all__ = ["RunStore", "StageDir", "atomic_dir", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]
