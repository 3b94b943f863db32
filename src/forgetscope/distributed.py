"""Process groups started by a launcher (`torchrun`, `accelerate launch`): who writes, and how the
processes of a group agree on a stage.

Without a launcher forgetscope runs one process per seed. Under one (WORLD_SIZE > 1) every process
runs the same study, seed after seed: a training stage is one data-parallel job of the whole group
(DDP; FSDP or DeepSpeed when `accelerate launch` is configured so), where the main process alone
writes; evaluation and restoration units are shared out through the run store's unit locks, each
process taking whole units and training alone inside them (`train(..., local=True)`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def launched() -> bool:
    """True in a process group of two or more processes started by a launcher."""
    return world_size() > 1


def is_main() -> bool:
    return rank() == 0


def device_for(want: str) -> torch.device:
    """`auto`/`cpu`/`cuda` as a device; under a launcher each process takes its own GPU."""
    import torch  # here, not at the top: who-writes questions (is_main, launched) need no torch

    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda" and launched():
        return torch.device("cuda", local_rank())
    return torch.device(want)


def _state():
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())  # the process group accelerate will train in


def barrier() -> None:
    if launched():
        _state().wait_for_everyone()


def from_main(value: Any) -> Any:
    """The main process's `value`, on every process of the group."""
    if not launched():
        return value
    import torch

    _state()
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]
