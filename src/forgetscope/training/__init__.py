"""One training loop. Pre-training of synthetic bases, fine-tuning and restoration are configurations
of it, not copies."""

from forgetscope.training.batches import LMBatches, SFTBatches
from forgetscope.training.config import CheckpointSchedule, LoraSettings, TrainConfig
from forgetscope.training.loop import TrainResult, train

__all__ = ["CheckpointSchedule", "LMBatches", "LoraSettings", "SFTBatches", "TrainConfig", "TrainResult", "train"]
