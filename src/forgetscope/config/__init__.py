"""Typed configs: pydantic models that mirror the YAML one to one; unknown keys are errors."""

from forgetscope.config.base import PluginSpec, StrictModel
from forgetscope.config.loading import (
    apply_overrides,
    config_hash,
    dump_yaml,
    load_yaml,
    validate_config,
)

__all__ = ["PluginSpec", "StrictModel", "apply_overrides", "config_hash", "dump_yaml", "load_yaml", "validate_config"]
