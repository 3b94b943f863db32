"""What every suite shares: the transform entry of a config, package data, row checks, and the
protocol a suite follows (one suite per file, looked up by its config key in the conjugate study).

A suite turns its data into probe items (forgetscope.evaluation.items.ProbeItem) for one transform:
ids are "<suite>/<transform label>/<key>", where `key` ("<task>/<n>") names the same underlying
prompt under every transform, so results can be paired across transforms and models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from forgetscope.config import PluginSpec
from forgetscope.errors import UserError
from forgetscope.evaluation.items import ProbeItem
from forgetscope.evaluation.probe_runner import ProbeSettings
from forgetscope.transforms.base import TRANSFORMS, Transform, get_transform

BUILTIN = "builtin"


class TransformSpec(PluginSpec):
    """A transform by name, with its options: `leetspeak`, or `{name: parallel, language: fr}`."""

    name: str = Field(..., description=" | ".join(TRANSFORMS.names()))
    options: dict[str, Any] = Field(default_factory=dict, description="the transform's keyword options")

    @model_validator(mode="after")
    def _known(self) -> TransformSpec:
        try:
            TRANSFORMS.entry(self.name)
        except UserError as e:
            raise ValueError(str(e)) from None
        return self

    def build(self, **defaults: Any) -> Transform:
        return get_transform(self.name, **{**defaults, **self.options})

    @property
    def key(self) -> str:
        """A label known before the transform is built (a model-backed one loads lazily)."""
        return ":".join([self.name, *(str(v) for v in self.options.values())]) if self.options else self.name


def data_file(name: str) -> Path:
    """A file shipped in forgetscope/data/suites/."""
    return Path(str(resources.files("forgetscope") / "data" / "suites" / name))


def resolve(ref: str, builtin: str) -> Path:
    path = data_file(builtin) if ref == BUILTIN else Path(ref).expanduser()
    if not path.is_file():
        raise UserError(f"{path}: no such suite file")
    return path


def read_json(path: Path) -> Any:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from None


def read_suite_rows(path: Path, required: Sequence[str]) -> list[dict]:
    """JSONL rows, each with every `required` field and a unique 'id' (else a one-line error)."""
    from forgetscope.data import read_jsonl

    rows = read_jsonl(path)
    if not rows:
        raise UserError(f"{path}: no rows")
    seen: set[str] = set()
    for i, row in enumerate(rows, 1):
        for f in ("id", *required):
            if f not in row:
                raise UserError(f"{path}:{i}: missing field {f!r} (each row needs {', '.join(['id', *required])})")
        if str(row["id"]) in seen:
            raise UserError(f"{path}:{i}: duplicate id {row['id']!r}")
        seen.add(str(row["id"]))
    return rows


def text_in(row: Mapping, field: str | None, language: str, transform: Transform, where: str) -> str:
    """The text of `row[field]` (or of the flat row, field None) in the language a transform reads:
    a `parallel` transform reads its own language's column; every other transform reads `language`
    (the source language) and rewrites it afterwards."""
    if transform.reads_dataset:
        return transform.select(row, field, where=where)  # type: ignore[attr-defined]
    value = row if field is None else row[field]
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        if language not in value or not isinstance(value[language], str):
            rid = row.get("id")
            raise UserError(f"{where}: row {rid!r}: no {field or 'text'!r} in language {language!r}")
        return value[language]
    raise UserError(f"{where}: row {row.get('id')!r}: field {field!r} must be a text or one text per language")


def language_of(transform: Transform, source: str) -> str:
    return getattr(transform, "language", source) if transform.reads_dataset else source


class Suite:
    """A capability suite. `items(transform)` gives its probe items under one transform; `settings`
    how they are generated and judged; `tasks` the task names items carry in meta['task']."""

    name: ClassVar[str] = ""
    tasks: ClassVar[tuple[str, ...]] = ()
    metric: ClassVar[str] = "accuracy"

    @classmethod
    def from_config(cls, cfg: Any, seed: int) -> Suite:
        """The suite of a config section; `seed` draws whatever the suite samples (ICL prompts)."""
        return cls(cfg)

    def items(self, transform: Transform) -> list[ProbeItem]:
        raise NotImplementedError

    def settings(self, transform: Transform) -> ProbeSettings:
        return ProbeSettings()

    def item(self, transform: Transform, key: str, **fields: Any) -> ProbeItem:
        meta = {**fields.pop("meta", {}), "suite": self.name, "transform": transform.label, "key": key, "task": key.split("/")[0]}
        return ProbeItem(id=f"{self.name}/{transform.label}/{key}", probe=self.name, meta=meta, **fields)
