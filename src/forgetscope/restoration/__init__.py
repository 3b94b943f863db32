"""Restorers: bring a fine-tuned checkpoint back toward pre-training behaviour, then probe again.

One protocol (restoration.base.Restorer), one file per restorer, looked up by name (RESTORERS):
- `lm_training`: brief LM training on pre-training-like text that does not contain the probed facts
  (Zhang et al.; the fact world uses biographies of the restoration split only);
- `interpolation`: training-free, move the weights part of the way back to the base (Lin et al.).
"""

from forgetscope.registry import lazy_members

_HOMES = {
    "RESTORERS": "forgetscope.restoration.base",
    "RestoreJob": "forgetscope.restoration.base",
    "Restorer": "forgetscope.restoration.base",
    "RestorerSpec": "forgetscope.restoration.base",
    "build_restorers": "forgetscope.restoration.base",
    "interpolate_toward_base": "forgetscope.restoration.interpolation",
    "restore_by_lm_training": "forgetscope.restoration.lm_training",
}
__all__ = sorted(_HOMES)

__getattr__ = lazy_members(__name__, _HOMES)  # each name imported from its module on first use
