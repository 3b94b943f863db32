"""Reasoning under translation (Kotha et al.: Llama-2 vs CodeLlama on XNLI): premise/hypothesis pairs
in any language, the prompt "{premise}\\nQuestion: {hypothesis} True, False or Neither?\\nAnswer:".

Scored by ranking the three continuations " True", " False", " Neither" (entailment, contradiction,
neutral) by log-likelihood, as lm-evaluation-harness scores XNLI, rather than by parsing a greedy
answer; the words come from a per-language template file and are transformed like the prompt.
Rows: {"id", "premise", "hypothesis", "label"}, where premise and hypothesis are one text or one text
per language ({"en": ..., "es": ...}) and label is entailment | neutral | contradiction (or XNLI's
0 | 1 | 2).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from forgetscope.config import StrictModel
from forgetscope.errors import UserError
from forgetscope.evaluation.items import ProbeItem
from forgetscope.suites.base import (
    BUILTIN,
    Suite,
    TransformSpec,
    language_of,
    read_json,
    read_suite_rows,
    resolve,
    text_in,
)
from forgetscope.transforms.base import Transform

LABELS = {"entailment": 0, "contradiction": 1, "neutral": 2}  # index into (true, false, neither)
XNLI_IDS = {0: "entailment", 1: "neutral", 2: "contradiction"}
TEMPLATE_KEYS = ("question", "true", "false", "neither", "or", "answer")


class ReasoningConfig(StrictModel):
    """The reasoning suite (XNLI-style; docs/conjugate.md)."""

    data: str = Field(BUILTIN, description="'builtin' (18 pairs written for forgetscope, en/es/fr) or a JSONL file")
    templates: str = Field(BUILTIN, description="'builtin' (en/es/fr) or a JSON file {language: {question, true, false, neither, or, answer}}")
    language: str = Field("en", description="source language: the text every non-parallel transform rewrites")
    format: Literal["plain", "chat"] = Field("plain", description="plain: the prompt as text (as the paper)")
    transforms: list[TransformSpec] | None = Field(None, description="overrides the study's transforms for this suite")


def label_index(value, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in XNLI_IDS:
        value = XNLI_IDS[value]
    if isinstance(value, str) and value.lower() in LABELS:
        return LABELS[value.lower()]
    raise UserError(f"{where}: field 'label': {value!r} is not entailment, neutral, contradiction (or 0, 1, 2)")


class ReasoningSuite(Suite):
    name = "reasoning"
    tasks = ("nli",)

    def __init__(self, cfg: ReasoningConfig):
        self.cfg = cfg
        self.path = resolve(cfg.data, "xnli_sample.jsonl")
        self.rows = read_suite_rows(self.path, ["premise", "hypothesis", "label"])
        self.labels = [label_index(r["label"], f"{self.path}:{i}") for i, r in enumerate(self.rows, 1)]
        self.templates_path = resolve(cfg.templates, "xnli_templates.json")
        self.templates = read_json(self.templates_path)

    def items(self, transform: Transform) -> list[ProbeItem]:
        lang = language_of(transform, self.cfg.language)
        tpl = self.templates.get(lang)
        if not isinstance(tpl, dict) or any(k not in tpl for k in TEMPLATE_KEYS):
            raise UserError(f"{self.templates_path}: no complete template for language {lang!r} "
                            f"(keys {', '.join(TEMPLATE_KEYS)}); give reasoning.templates a file with it")
        fixed = [tpl[k] for k in TEMPLATE_KEYS]
        pairs = []
        for i, r in enumerate(self.rows, 1):
            where = f"{self.path}:{i}"
            pairs += [text_in(r, "premise", self.cfg.language, transform, where), text_in(r, "hypothesis", self.cfg.language, transform, where)]
        out = fixed + pairs if transform.reads_dataset else transform.apply_many(fixed + pairs)
        q, yes, no, neither, or_, ans = out[: len(fixed)]
        texts = out[len(fixed) :]
        items = []
        for i, (r, label) in enumerate(zip(self.rows, self.labels, strict=True)):
            premise, hypothesis = texts[2 * i], texts[2 * i + 1]
            prompt = f"{premise}\n{q}: {hypothesis} {yes}, {no} {or_} {neither}?\n{ans}:"
            items.append(self.item(transform, f"nli/{r['id']}", kind="choice", format=self.cfg.format, prompt=prompt,
                                   choices=[f" {yes}", f" {no}", f" {neither}"], answer=label, meta={"language": lang}))
        return items
