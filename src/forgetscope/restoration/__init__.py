"""Restorers: bring a fine-tuned checkpoint back toward pre-training behaviour, then probe again.

- `lm_restore`: brief LM training on pre-training-like text that does not contain the probed facts
  (Zhang et al.; the fact world uses biographies of the restoration split only);
- `interpolate`: training-free, move the weights part of the way back to the base (Lin et al.).
"""

from forgetscope.restoration.interpolate import interpolate_toward_base
from forgetscope.restoration.lm_restore import restore_by_lm_training

__all__ = ["interpolate_toward_base", "restore_by_lm_training"]
