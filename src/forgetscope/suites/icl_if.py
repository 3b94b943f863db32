"""ICL versus instruction following (Kotha et al., real-LM part): an instruction ("Capitalize every
character." / "Repeat the input."), demonstrations, then a query that invites answering instead: an
arithmetic question ("What is a plus b?", a, b in 4..20) or a sentence whose first word is blanked
("Fill in the blank: ___ sleeps on the warm windowsill."). Four tasks, `per_task` prompts each.

    Capitalize every character.
    Input: The cat sleeps on the warm windowsill.
    Output: THE CAT SLEEPS ON THE WARM WINDOWSILL.
    Input: Rain fell on the quiet village all night.
    Output: RAIN FELL ON THE QUIET VILLAGE ALL NIGHT.
    Input: What is 7 plus 12?
    Output:

Correct when the output starts with the pattern-following answer's first word ("WHAT"), by the
`starts_with` rule (forgetscope.evaluation.rules). The transform rewrites every part (instruction,
labels, demonstrations, query) and the task is applied to the transformed text, so the expected
answer is the first word of the transformed query, capitalised for the capitalize tasks.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import Field

from forgetscope.config import StrictModel
from forgetscope.errors import UserError
from forgetscope.evaluation.items import ProbeItem
from forgetscope.evaluation.probe_runner import ProbeSettings
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

TASKS = ("capitalize_arithmetic", "capitalize_blank", "repeat_arithmetic", "repeat_blank")
TEMPLATE_KEYS = ("capitalize", "repeat", "input", "output", "arithmetic", "blank", "blank_token")
ARITH_RANGE = (4, 20)


class IclIfConfig(StrictModel):
    """The ICL-vs-instruction-following suite (docs/conjugate.md)."""

    sentences: str = Field(BUILTIN, description="'builtin' (48 sentences, en/fr/es) or a JSONL of {id, <language>: sentence, ...}")
    templates: str = Field(BUILTIN, description="'builtin' (en/fr/es) or a JSON file {language: {capitalize, repeat, input, output, arithmetic, blank, blank_token}}")
    language: str = Field("en", description="source language: the column every non-parallel transform rewrites")
    per_task: int = Field(100, ge=1, le=100_000, description="prompts per task and transform (4 tasks)")
    demos: int = Field(2, ge=1, le=64, description="demonstrations per prompt")
    max_new_tokens: int = Field(10, ge=1, le=4096, description="greedy generation budget")
    format: Literal["chat", "plain"] = Field("chat", description="chat: the prompt is the user turn of the model's chat template")
    transforms: list[TransformSpec] | None = Field(None, description="overrides the study's transforms for this suite")


class IclIfSuite(Suite):
    name = "icl_if"
    tasks = TASKS

    @classmethod
    def from_config(cls, cfg: IclIfConfig, seed: int) -> IclIfSuite:
        return cls(cfg, seed)

    def __init__(self, cfg: IclIfConfig, seed: int):
        self.cfg = cfg
        self.path = resolve(cfg.sentences, "icl_sentences.jsonl")
        self.rows = read_suite_rows(self.path, [])
        tpath = resolve(cfg.templates, "icl_templates.json")
        self.templates = {k: v for k, v in read_json(tpath).items() if not k.startswith("_")}
        self.templates_path = tpath
        if len(self.rows) < cfg.demos + 1:
            raise UserError(f"{self.path}: {len(self.rows)} sentences; the suite needs at least demos + 1 = {cfg.demos + 1}")
        self.plan = self._plan(random.Random(f"icl_if-{seed}"))

    def _plan(self, rng: random.Random) -> list[dict]:
        """Which sentences and numbers each prompt uses: drawn once, the same under every transform."""
        plan = []
        for task in TASKS:
            for i in range(self.cfg.per_task):
                picked = rng.sample(range(len(self.rows)), self.cfg.demos + 1)
                plan.append({"task": task, "key": f"{task}/{i:04d}", "demos": picked[:-1], "sentence": picked[-1],
                             "a": rng.randint(*ARITH_RANGE), "b": rng.randint(*ARITH_RANGE)})
        return plan

    def _template(self, lang: str) -> dict[str, str]:
        tpl = self.templates.get(lang)
        if not isinstance(tpl, dict):
            raise UserError(f"{self.templates_path}: no templates for language {lang!r} (has: {', '.join(self.templates)}); "
                            "give icl_if.templates a file with that language")
        missing = [k for k in TEMPLATE_KEYS if k not in tpl]
        if missing:
            raise UserError(f"{self.templates_path}: language {lang!r}: missing key {missing[0]!r}")
        return tpl

    def items(self, transform: Transform) -> list[ProbeItem]:
        lang = language_of(transform, self.cfg.language)
        tpl = self._template(lang)
        where = str(self.path)
        texts = [text_in(r, None, self.cfg.language, transform, f"{where}:{i}") for i, r in enumerate(self.rows, 1)]
        # Every distinct string is rewritten once (a model-backed transform batches them).
        queries = [self._query(p, tpl, texts) for p in self.plan]
        fixed = [tpl["capitalize"], tpl["repeat"], tpl["input"], tpl["output"]]
        firsts = [texts[p["sentence"]].split()[0] for p in self.plan]
        if transform.reads_dataset:
            out = fixed + texts + queries + firsts
        else:
            out = transform.apply_many(fixed + texts + queries + firsts)
        n, m = len(fixed), len(texts)
        (cap, rep, lin, lout), tt, tq, tfirst = out[:n], out[n : n + m], out[n + m : n + m + len(queries)], out[n + m + len(queries) :]
        items = []
        for j, p in enumerate(self.plan):
            capitalize = p["task"].startswith("capitalize")
            op = str.upper if capitalize else (lambda s: s)
            lines = [cap if capitalize else rep]
            for d in p["demos"]:
                lines += [f"{lin}: {tt[d]}", f"{lout}: {op(tt[d])}"]
            lines += [f"{lin}: {tq[j]}", f"{lout}:"]
            arithmetic = p["task"].endswith("arithmetic")
            if_answer = str(p["a"] + p["b"]) if arithmetic else tfirst[j]
            items.append(self.item(
                transform, p["key"], kind="starts_with", format=self.cfg.format, prompt="\n".join(lines),
                answer=op(tq[j]), match_words=1, case_sensitive=capitalize, meta={"if_answer": if_answer, "language": lang},
            ))
        return items

    @staticmethod
    def _query(p: dict, tpl: dict[str, str], texts: list[str]) -> str:
        if p["task"].endswith("arithmetic"):
            return tpl["arithmetic"].format(a=p["a"], b=p["b"])
        words = texts[p["sentence"]].split()
        return tpl["blank"].format(sentence=" ".join([tpl["blank_token"], *words[1:]]))

    def settings(self, transform: Transform) -> ProbeSettings:
        return ProbeSettings(max_new_tokens=self.cfg.max_new_tokens, stop=["\n"])
