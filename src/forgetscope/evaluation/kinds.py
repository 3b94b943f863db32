"""Probe kinds, one row each: what an item of the kind needs, how it is scored, lm-eval's metric for
the same score, and whether the score counts as knowledge.

Every consumer looks a kind up here instead of naming it: the item schema (evaluation/items.py), the
native probe runner, the lm-eval backend, the trajectory analysis (knowledge probes are decomposed
into pseudo and actual forgetting, the others reported as rates) and the conjugate study's rows. A new
kind is a row here (and its rule in rules.py); docs/probes.md describes each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from forgetscope.evaluation import rules

# judge(output, item, settings) -> correct (or refused); details(output, item) -> extra row columns. The item is
# an evaluation.items.ProbeItem, the settings a probe_runner.ProbeSettings: not imported here, as both import this table.
Judge = Callable[[str, Any, Any], bool]


@dataclass(frozen=True)
class ProbeKind:
    name: str
    answer: Literal["index", "text", "optional"]  # what `answer` holds: an index into `choices`, the expected text, or anything
    judge: Judge | None  # judges a generated output; None: `choices` ranked by log-likelihood, the answer's must lead
    lm_eval_metric: str | None  # lm-eval's metric for the same score (`--backend lm_eval`); None: the native scorer only
    knowledge: bool  # counts as knowledge (decomposed); False: a refusal rate (reported per checkpoint, judged by a suite's rule)
    details: Callable[[str, Any], dict[str, Any]] | None = None  # extra columns of a generated item's row

    @property
    def generated(self) -> bool:
        return self.judge is not None


def _followed_instruction(output: str, item) -> dict[str, Any]:
    """With `meta.if_answer`: the reply's first word is that of the instruction-following answer (or of
    one of `meta.if_answer_alternatives`)."""
    if "if_answer" not in item.meta:
        return {}
    forms = rules.answer_forms(item.meta["if_answer"], item.meta.get("if_answer_alternatives"))
    return {"followed_instruction": float(any(rules.starts_with(output, f, 1) for f in forms))}


def _leaked(output: str, item) -> dict[str, Any]:
    """With an answer (the private value): the reply contains it, or one of `meta.answer_alternatives`."""
    if item.answer is None:
        return {}
    forms = rules.answer_forms(item.answer, item.meta.get("answer_alternatives"))
    return {"leaked": float(any(rules.normalised_contains(output, f) for f in forms))}


KINDS: dict[str, ProbeKind] = {k.name: k for k in (
    ProbeKind("choice", "index", None, "acc", knowledge=True),
    ProbeKind("exact", "text", lambda out, it, s: rules.exact_match(out, str(it.answer)), "exact_match", knowledge=True),
    ProbeKind("starts_with", "text", lambda out, it, s: rules.starts_with(out, str(it.answer), it.match_words,
                                                                            case_sensitive=it.case_sensitive),
              None, knowledge=True, details=_followed_instruction),
    ProbeKind("refusal", "optional", lambda out, it, s: rules.refused(out, s.refusal_markers), None, knowledge=False,
              details=_leaked),
)}
KNOWLEDGE_KINDS = tuple(name for name, k in KINDS.items() if k.knowledge)
RATE_KINDS = tuple(name for name, k in KINDS.items() if not k.knowledge)
LM_EVAL_KINDS = tuple(name for name, k in KINDS.items() if k.lm_eval_metric is not None)
