"""Run probe items through a scorer and return one tidy row per item."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from forgetscope.evaluation import rules
from forgetscope.evaluation.items import ProbeItem
from forgetscope.evaluation.kinds import KINDS

if TYPE_CHECKING:
    from forgetscope.evaluation.scorer import NativeScorer


@dataclass
class ProbeSettings:
    max_new_tokens: int = 10
    stop: list[str] = field(default_factory=lambda: ["\n"])
    refusal_markers: Sequence[str] = rules.DEFAULT_REFUSAL_MARKERS

    @classmethod
    def for_eval(cls, max_new_tokens: int, stop: list[str], l2_lexicon: dict[str, str] | None) -> ProbeSettings:
        """A study's probe settings (its `eval` section's generation limits); with the fact world's L2
        lexicon, its word for "sorry" also marks an L2 refusal."""
        markers = list(rules.DEFAULT_REFUSAL_MARKERS)
        if l2_lexicon is not None and "sorry" in l2_lexicon:
            markers.append(l2_lexicon["sorry"])
        return cls(max_new_tokens=max_new_tokens, stop=stop, refusal_markers=markers)


def render_prompt(item: ProbeItem, tokenizer) -> str:
    if item.format == "plain":
        return item.prompt
    return tokenizer.apply_chat_template([{"role": "user", "content": item.prompt}], tokenize=False, add_generation_prompt=True)


def run_probes(scorer: NativeScorer, items: Sequence[ProbeItem], settings: ProbeSettings) -> list[dict]:
    """Score every item, as its kind says (evaluation/kinds.py). Rows: id, probe, kind, score (1 =
    correct / refused), output, plus the kind's details: `followed_instruction` (starts_with items with
    `meta.if_answer`): the reply's first word is the first word of `meta.if_answer` or of one of
    `meta.if_answer_alternatives`; `leaked` (refusal items with an answer): the reply contains
    `answer` or one of `meta.answer_alternatives` as whole words (rules.normalised_contains). The
    alternatives are the same answer in other accepted forms (rules.answer_forms)."""
    rows: dict[str, dict] = {}
    prompts = {it.id: render_prompt(it, scorer.tok) for it in items}

    choice = [it for it in items if not KINDS[it.kind].generated]  # ranked among their choices
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

    generated = [it for it in items if KINDS[it.kind].generated]
    outputs = scorer.generate([prompts[it.id] for it in generated], max_new_tokens=settings.max_new_tokens, stop=settings.stop)
    for it, out in zip(generated, outputs, strict=True):
        kind = KINDS[it.kind]
        rows[it.id] = {"score": float(kind.judge(out, it, settings)), "output": out.strip(),  # type: ignore[misc]
                       **(kind.details(out, it) if kind.details is not None else {})}

    table = []
    for it in items:
        meta = {f"meta_{k}": v for k, v in it.meta.items()}
        table.append({"item_id": it.id, "probe": it.probe, "kind": it.kind, **rows[it.id], **meta})
    return table
