"""The run store: atomic files, stages that are done only when recorded done (and what the record
vouches for is intact), a run folder nothing is deleted outside of."""

from forgetscope.store.atomic import (
    UnsafePath,
    atomic_dir,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from forgetscope.store.records import notice
from forgetscope.store.root import Root
from forgetscope.store.run_store import RunStore, StageDir

__all__ = ["Root", "RunStore", "StageDir", "UnsafePath", "atomic_dir", "atomic_write_bytes", "atomic_write_json",
           "atomic_write_text", "notice"]
