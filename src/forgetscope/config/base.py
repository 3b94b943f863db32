"""The base class of every config section."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator


class MovedKey(ValueError):
    """A key of an older config shape: the message names where it lives now."""

    def __init__(self, key: str, new_place: str):
        self.key, self.new_place = key, new_place
        super().__init__(f"'{key}' has moved: write {new_place}")


class StrictModel(BaseModel):
    """A config section: unknown or mistyped keys are errors, values are validated on assignment.

    A section given in part keeps the rest of its documented default. Without this, a field whose
    default is a configured instance (`finetune: FinetuneConfig(steps=600, lr=2e-3, ...)`) would fall
    back to the bare class defaults as soon as a user sets one key of it (`--set finetune.train.lr=1e-3`
    would lose `steps`, `base.model.hidden=64` would silently change `layers`).
    """

    # A number is finite (`.nan` or `.inf` is never a setting); every number has an upper bound or a
    # cross-check (tests/test_bad_input.py walks every config section to hold us to it).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False)
    # Keys of an older config shape -> where they live now: an error naming the new place, never a
    # silent default (docs/outputs.md lists every move).
    moved: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _partial_sections_keep_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for key, new_place in cls.moved.items():
            if key in data:
                raise MovedKey(key, new_place)
        merged = None
        for name, field in cls.model_fields.items():
            default, given = field.default, data.get(name)
            if isinstance(default, BaseModel) and isinstance(given, dict) and _same_kind(default, given):
                merged = merged if merged is not None else dict(data)
                merged[name] = _with_defaults(default, given)
        return data if merged is None else merged


class PluginSpec(StrictModel):
    """A plug-in by registry name, with its options: `leetspeak`, or `{name: parallel, language: fr}`
    (the flat form), or `{name: parallel, options: {language: fr}}`."""

    name: str
    options: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data}
        if isinstance(data, dict) and "options" not in data and "name" in data:
            return {"name": data["name"], "options": {k: v for k, v in data.items() if k != "name"}}
        return data


def _same_kind(default: BaseModel, given: dict) -> bool:
    """A section of another kind (`base: {kind: pretrained}` over a tiny default) takes nothing from it."""
    return given.get("kind", getattr(default, "kind", None)) == getattr(default, "kind", None)


def _with_defaults(default: BaseModel, given: dict) -> dict:
    """`given` completed by the fields `default` was built with, section by section."""
    out = dict(given)
    if "kind" in type(default).model_fields:  # the tag of a discriminated union: `base: {model: ...}` means the default kind
        out.setdefault("kind", default.kind)
    for name in default.model_fields_set:
        value = getattr(default, name)
        if name not in out:
            out[name] = value.model_copy(deep=True) if isinstance(value, BaseModel) else copy.deepcopy(value)
        elif isinstance(value, BaseModel) and isinstance(out[name], dict) and _same_kind(value, out[name]):
            out[name] = _with_defaults(value, out[name])
    return out
