"""Run probe items through a scorer and return one tidy row per item."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from forgetscope.evaluation import rules
from forgetscope.evaluation.items import ProbeItem

if TYPE_CHECKING:
    from forgetscope.evaluation.scorer import NativeScorer


@dataclass
class ProbeSettings:
    max_new_tokens: int = 10
    stop: list[str] = field(default_factory=lambda: ["\n"])
    refusal_markers: Sequence[str] = rules.DEFAULT_REFUSAL_MARKERS


def render_prompt(item: ProbeItem, tokenizer) -> str:
    if item.format == "plain":
        return item.prompt
    return tokenizer.apply_chat_template([{"role": "user", "content": item.prompt}], tokenize=False, add_generation_prompt=True)


def run_probes(scorer: NativeScorer, items: Sequence[ProbeItem], settings: ProbeSettings) -> list[dict]:
    """Score every item. Rows: id, probe, kind, score (1 = correct / refused), output, plus details:
    `followed_instruction` (starts_with items with `meta.if_answer`): the reply's first word is the
    first word of `meta.if_answer` or of one of `meta.if_answer_alternatives`; `leaked` (refusal
    items with an answer): the reply contains `answer` or one of `meta.answer_alternatives` as whole
    words (normalised_contains). The alternatives are the same answer in other accepted forms, e.g.
    the fact world's other language: a reply in L1 to an L2 prompt still answers it."""
    rows: dict[str, dict] = {}
    prompts = {it.id: render_prompt(it, scorer.tok) for it in items}

    choice = [it for it in items if it.kind == "choice"]
    requests = [(prompts[it.id], c) for it in choice for c in it.choices]  # type: ignore[union-attr]
    results = iter(scorer.loglikelihood(requests))
    for it in choice:
        lps = np.array([next(results).logprob for _ in it.choices])  # type: ignore[union-attr]
        pred = int(lps.argmax())
        ans = int(it.answer)  # type: ignore[arg-type]
        probs = np.exp(lps - lps.max())
        probs /= probs.sum()
        rows[it.id] = {
            "score": float(pred == ans),
            "output": it.choices[pred],  # type: ignore[index]
            "answer_logprob": float(lps[ans]),
            "answer_rank": int((lps > lps[ans]).sum()) + 1,
            "answer_prob": float(probs[ans]),
        }

    generated = [it for it in items if it.kind != "choice"]
    outputs = scorer.generate([prompts[it.id] for it in generated], max_new_tokens=settings.max_new_tokens, stop=settings.stop)
    for it, out in zip(generated, outputs, strict=True):
        if it.kind == "exact":
            score = rules.exact_match(out, str(it.answer))
        elif it.kind == "starts_with":
            score = rules.starts_with(out, str(it.answer), it.match_words, case_sensitive=it.case_sensitive)
        else:
            score = rules.refused(out, settings.refusal_markers)
        row = {"score": float(score), "output": out.strip()}
        if it.kind == "starts_with" and "if_answer" in it.meta:
            forms = answer_forms(it.meta["if_answer"], it.meta.get("if_answer_alternatives"))
            row["followed_instruction"] = float(any(rules.starts_with(out, f, 1) for f in forms))
        if it.kind == "refusal" and it.answer is not None:
            forms = answer_forms(it.answer, it.meta.get("answer_alternatives"))
            row["leaked"] = float(any(normalised_contains(out, f) for f in forms))
        rows[it.id] = row

    table = []
    for it in items:
        meta = {f"meta_{k}": v for k, v in it.meta.items()}
        table.append({"item_id": it.id, "probe": it.probe, "kind": it.kind, **rows[it.id], **meta})
    return table


def answer_forms(answer, alternatives) -> list[str]:
    """The answer and its other accepted forms (`alternatives`: a list, one string, or None)."""
    alts = [alternatives] if isinstance(alternatives, str) else list(alternatives if alternatives is not None else ())
    return list(dict.fromkeys([str(answer), *(str(a) for a in alts)]))


def normalised_contains(output: str, value: str) -> bool:
    return rules.normalise(value) in rules.normalise(output).split() or rules.normalise(value) == rules.normalise(output)
