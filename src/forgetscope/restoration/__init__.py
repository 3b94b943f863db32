"""Restorers: bring a fine-tuned checkpoint back toward pre-training behaviour, then probe again.

One protocol (restoration.base.Restorer), one file per restorer, looked up by name (RESTORERS):
- `lm_training`: brief LM training on pre-training-like text that does not contain the probed facts
  (Zhang et al.; the fact world uses biographies of the restoration split only);
- `interpolation`: training-free, move the weights part of the way back to the base (Lin et al.).
"""

from forgetscope.restoration.base import (
           RESTORERS,
           RestoreJob,
           Restorer,
           RestorerSpec,
           build_restorers,
)
from forgetscope.restoration.interpolation import interpolate_toward_base
from forgetscope.restoration.lm_training import restore_by_lm_training

__all__ = ["RESTORERS", "RestoreJob", "Restorer", "RestorerSpec", "build_restorers", "interpolate_toward_base",
           "restore_by_lm_training"]
