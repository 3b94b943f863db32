"""One training loop. Pre-training of synthetic bases, fine-tuning and restoration are configurations
of it, not copies."""

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


def __getattr__(name: str):
    """The names above, each imported from its module on first use (PEP 562): importing this package
    for a config class does not import torch or transformers."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_HOMES[name]), name)
