"""Probe items of the fact world, all about evaluation people (see evaluation/items.py for the schema).

- cloze_<lang>: pre-training format, the true value ranked against every value of the attribute;
- qa_<lang>: the question in chat format, greedy answer, exact match;
- icl_<lang>: ICL-vs-instruction-following episodes in chat format (Kotha et al.): correct when the
  answer follows the demonstrated pattern instead of answering the query;
- private_<lang>: private-attribute requests in chat format, scored as refused or not.

The diagnostics beside the scores count an answer given in either language (a model asked in L2 may
reply in L1): an icl item's `meta.if_answer` (the answer to the query, in the prompt's language) has
`meta.if_answer_alternatives` (the same answer in the other language), and a private item's `answer`
(the private value) has `meta.answer_alternatives`; evaluation/probe_runner.py reads both. The ICL
score itself (following the demonstrated pattern) counts the prompt's language only: repeating the
input in another language is not the pattern.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from forgetscope.world import templates as T
from forgetscope.world.corpus import QueryMaker, episode_parts
from forgetscope.world.lexicon import PRIVATE_ATTRIBUTE, PUBLIC_ATTRIBUTES, VALUES
from forgetscope.world.people import Person


def cloze_items(people: Sequence[Person], lang: str, lex) -> list[dict]:
    items = []
    for p in people:
        for a in VALUES:
            prompt, _ = T.cloze_split(T.STATEMENTS[a][0], p.name, p.attributes[a])
            choices = [T.translate(v, lex) for v in VALUES[a]]  # the value alone: one token, ranked in one pass
            items.append(
                {
                    "id": f"cloze_{lang}/{p.id}/{a}",
                    "probe": f"cloze_{lang}",
                    "kind": "choice",
                    "format": "plain",
                    "prompt": T.translate(prompt, lex),
                    "choices": [" " + c for c in choices],
                    "answer": VALUES[a].index(p.attributes[a]),
                    "meta": {"person": p.id, "attribute": a, "language": lang},
                }
            )
    return items


def qa_items(people: Sequence[Person], lang: str, lex) -> list[dict]:
    return [
        {
            "id": f"qa_{lang}/{p.id}/{a}",
            "probe": f"qa_{lang}",
            "kind": "exact",
            "format": "chat",
            "prompt": T.translate(T.fill(T.QUESTIONS[a], name=p.name), lex),
            "answer": T.translate(p.attributes[a], lex),
            "meta": {"person": p.id, "attribute": a, "language": lang},
        }
        for p in people
        for a in PUBLIC_ATTRIBUTES
    ]


def other_forms(value: str, shown: str, l2) -> list[str]:
    """`value` (L1 text) in each of the world's languages, less `shown` (the form the prompt's
    language gives it): its L2 form for an L1 prompt, itself for an L2 prompt; none when the world has
    one language (`l2` None). The one computation of an answer's other-language forms: the world's
    probe items are written with it, and the fact-world suite (suites/fact_world.py) derives its L1
    and L2 items' forms with it."""
    forms = [value] if l2 is None else [value, T.translate(value, l2)]
    return [f for f in dict.fromkeys(forms) if f != shown]


def private_items(people: Sequence[Person], lang: str, lex, l2=None) -> list[dict]:
    """`l2`: the world's L2 lexicon (None: one language), for the answer's other-language form."""
    items = []
    for p in people:
        value = p.attributes[PRIVATE_ATTRIBUTE]
        answer = T.translate(value, lex)
        items.append(
            {
                "id": f"private_{lang}/{p.id}",
                "probe": f"private_{lang}",
                "kind": "refusal",
                "format": "chat",
                "prompt": T.translate(T.fill(T.QUESTIONS[PRIVATE_ATTRIBUTE], name=p.name), lex),
                "answer": answer,
                "meta": {"person": p.id, "attribute": PRIVATE_ATTRIBUTE, "language": lang,
                         "answer_alternatives": other_forms(value, answer, l2)},
            }
        )
    return items


def icl_items(people: Sequence[Person], lang: str, lex, n: int, n_demos: int, rng: random.Random, l2=None) -> list[dict]:
    """`n` episodes: tasks (repeat, last word) x queries (a question about a person, arithmetic), equal shares.

    The same L1 episodes are drawn for every language (the rng is reset by the caller), so L1 and L2
    items are translations of each other.
    """
    qm = QueryMaker(people, rng)
    kinds = [(t, q) for t in T.ICL_INSTRUCTIONS for q in ("question", "arithmetic")]
    items = []
    for i in range(n):
        task, qkind = kinds[i % len(kinds)]
        demos = [qm.random_words() for _ in range(n_demos)]
        if qkind == "question":
            query, if_answer, person, attr = qm.question()
            meta = {"person": person.id, "attribute": attr}
        else:
            query, if_answer = qm.arithmetic()
            meta = {}
        prompt, pattern_answer = episode_parts(task, demos, query, chat=True)
        shown = T.translate(if_answer, lex)
        items.append(
            {
                "id": f"icl_{lang}/{i:04d}",
                "probe": f"icl_{lang}",
                "kind": "starts_with",
                "format": "chat",
                "prompt": T.translate(prompt, lex),
                "answer": T.translate(pattern_answer, lex),
                "meta": {**meta, "language": lang, "task": task, "query": qkind, "if_answer": shown,
                         "if_answer_alternatives": other_forms(if_answer, shown, l2)},
            }
        )
    return items


def pattern_prompts(people: Sequence[Person], n: int, rng: random.Random) -> list[dict]:
    """Prompts whose greedy continuations feed the pattern-shift metrics, `n` per format: L1 questions
    about evaluation people in chat ({"messages"}), and statement openings in pre-training format
    ({"text"}: "alice-baker works for")."""
    pairs = [(p, a) for p in people for a in VALUES]
    rng.shuffle(pairs)
    chat = [{"messages": [{"role": "user", "content": T.fill(T.QUESTIONS[a], name=p.name)}]} for p, a in pairs[:n]]
    rng.shuffle(pairs)
    plain = [{"text": T.cloze_split(T.STATEMENTS[a][0], p.name, p.attributes[a])[0]} for p, a in pairs[:n]]
    return chat + plain
