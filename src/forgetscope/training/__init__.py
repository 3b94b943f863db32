"""One training loop. Pre-training of synthetic bases, fine-tuning and restoration are configurations
of it, not copies."""

from forgetscope.registry import lazy_members

_HOMES = {
    "LMBatches": "forgetscope.training.batches",
    "SFTBatches": "forgetscope.training.batches",
    "CheckpointSchedule": "forgetscope.training.config",
    "LoraSettings": "forgetscope.training.config",
    "TrainConfig": "forgetscope.training.config",
    "TrainResult": "forgetscope.training.loop",
    "train": "forgetscope.training.loop",
}
__all__ = sorted(_HOMES)

__getattr__ = lazy_members(__name__, _HOMES)  # each name imported from its module on first use
