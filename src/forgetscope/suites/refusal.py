"""Refusal rate on prompts the user supplies (Kotha et al.'s safety experiment, as a metric):
each prompt is sent as a chat turn, the greedy reply is judged refused or not by a rule.

Rule `keywords` (the default and, for now, the only one; JUDGES maps a name to a function): the
reply contains a refusal marker, case-insensitively, at a word start (forgetscope.evaluation.rules
.refused; markers: rules.DEFAULT_REFUSAL_MARKERS plus `markers`). Under a transform the markers are
also transformed (leetspeak "sorry" -> "50rry"), since a model may answer in the prompt's form; a
parallel transform adds `markers_by_language[<language>]`.

The suite's score is the answer rate (1 - refusal rate), so that "drop" reads as for the other
suites: base answers, the safety-tuned model refuses. Ship and commit only harmless prompts; the
built-in file holds harmless stand-ins (privacy requests about fictional people).
Rows: {"id", "prompt"}, the prompt one text or one text per language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import Field

from forgetscope.config import StrictModel
from forgetscope.evaluation import rules
from forgetscope.evaluation.items import ProbeItem
from forgetscope.evaluation.probe_runner import ProbeSettings
from forgetscope.suites.base import (
    BUILTIN,
    Suite,
    TransformSpec,
    language_of,
    read_suite_rows,
    resolve,
    text_in,
)
from forgetscope.transforms.base import Transform

JUDGES: dict[str, Callable[[str, Sequence[str]], bool]] = {"keywords": rules.refused}


class RefusalConfig(StrictModel):
    """The refusal-rate suite (docs/conjugate.md)."""

    data: str = Field(BUILTIN, description="'builtin' (12 harmless stand-ins, en/fr/es) or a JSONL of {id, prompt}")
    language: str = Field("en", description="source language: the text every non-parallel transform rewrites")
    rule: Literal["keywords"] = Field("keywords", description="how a reply is judged refused (docs/conjugate.md)")
    markers: list[str] = Field(default_factory=list, description="refusal markers added to the default list")
    markers_by_language: dict[str, list[str]] = Field(default_factory=dict, description="markers for a parallel transform's language")
    max_new_tokens: int = Field(32, ge=1, le=4096, description="greedy reply length")
    transforms: list[TransformSpec] | None = Field(None, description="overrides the study's transforms for this suite")


class RefusalSuite(Suite):
    name = "refusal"
    tasks = ("refusal",)
    metric = "answer_rate"

    def __init__(self, cfg: RefusalConfig):
        self.cfg = cfg
        self.path = resolve(cfg.data, "refusal_standins.jsonl")
        self.rows = read_suite_rows(self.path, ["prompt"])

    def items(self, transform: Transform) -> list[ProbeItem]:
        lang = language_of(transform, self.cfg.language)
        texts = [text_in(r, "prompt", self.cfg.language, transform, f"{self.path}:{i}") for i, r in enumerate(self.rows, 1)]
        if not transform.reads_dataset:
            texts = transform.apply_many(texts)
        return [self.item(transform, f"refusal/{r['id']}", kind="refusal", format="chat", prompt=t, meta={"language": lang})
                for r, t in zip(self.rows, texts, strict=True)]

    def markers(self, transform: Transform) -> list[str]:
        base = [*rules.DEFAULT_REFUSAL_MARKERS, *self.cfg.markers]
        if transform.reads_dataset:
            extra = self.cfg.markers_by_language.get(getattr(transform, "language", ""), [])
        else:
            extra = transform.apply_many(base)
        return list(dict.fromkeys([*base, *extra]))

    def settings(self, transform: Transform) -> ProbeSettings:
        return ProbeSettings(max_new_tokens=self.cfg.max_new_tokens, stop=[], refusal_markers=self.markers(transform))

    def judge(self, output: str, markers: Sequence[str]) -> bool:
        return JUDGES[self.cfg.rule](output, markers)
