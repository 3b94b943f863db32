"""Probe items: the one schema every probe file follows (the fact world's and users' alike).

One JSON object per line:
    id        unique id                     "cloze_l1/p0012/birth_city"
    probe     the probe it belongs to       "cloze_l1"
    kind      choice | exact | starts_with | refusal (evaluation/kinds.py: what each needs and how it is scored)
    format    plain (text as is) | chat (the prompt is the user turn, rendered by the chat template)
    prompt    the context
    choices   (choice) continuations to rank; the prompt + choice is scored
    answer    (choice) index of the right choice; (exact, starts_with) the expected text;
              (refusal) the private value, if known (used to report leaks)
    match_words (starts_with) how many leading words must match (default 1, as Kotha et al.)
    case_sensitive (starts_with) compare letter case too (default false; true where case is the
              pattern, as in the capitalize tasks of Kotha et al.)
    meta      free-form metadata, kept as columns in the result tables
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from forgetscope.config import StrictModel
from forgetscope.data.sources import DataSource, load_rows_with_places
from forgetscope.errors import UserError
from forgetscope.evaluation.kinds import KINDS


class ProbeItem(StrictModel):
    id: str
    probe: str
    kind: Literal[tuple(KINDS)]  # type: ignore[valid-type]
    format: Literal["plain", "chat"] = "plain"
    prompt: str
    choices: list[str] | None = None
    answer: int | str | None = None
    match_words: int = Field(1, ge=1)
    case_sensitive: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> ProbeItem:
        needs = KINDS[self.kind].answer
        if needs == "index":
            if not self.choices or not isinstance(self.answer, int) or not 0 <= self.answer < len(self.choices):
                raise ValueError(f"a {self.kind} item needs 'choices' and 'answer' (an index into choices)")
        elif needs == "text" and not isinstance(self.answer, str):
            raise ValueError(f"a {self.kind} item needs 'answer' (the expected text)")
        return self


def load_items(path: str | Path | DataSource) -> list[ProbeItem]:
    """Probe items from a file (JSON Lines, or any format data/sources.py reads) or a datasets source."""
    items = []
    ids: set[str] = set()
    for where, row in load_rows_with_places(path if isinstance(path, DataSource) else str(path)):
        try:
            item = ProbeItem.model_validate(row)
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "(item)"
            raise UserError(f"{where}: field '{field}': {err['msg'].removeprefix('Value error, ')}") from None
        if item.id in ids:
            raise UserError(f"{where}: duplicate id {item.id!r}")
        ids.add(item.id)
        items.append(item)
    return items
