"""A forget set in the fact world, for the unlearning study: who is forgotten, retained and probed
for general knowledge, the oracle's corpus (the pre-training corpus less the forget people's
biographies, every other row as it was), the texts unlearning and relearning train on, and the
probe items (cloze with an "I don't know" choice).

Nothing here changes what `build_world` generates: the split is taken from the evaluation people
(forget: the first `n_forget`, retain: the rest), the general probe asks about the IFT people, and
the disjoint relearning text is the world's restoration text (restoration people only).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from forgetscope.world import templates as T
from forgetscope.world.build import World, lm_texts
from forgetscope.world.lexicon import VALUES
from forgetscope.world.people import Person

IDK = "sorry"  # the "I don't know" answer: a word of the world (its refusal), never a value


@dataclass(frozen=True)
class ForgetSplit:
    forget: list[Person]
    retain: list[Person]
    general: list[Person]
    folds: list[list[Person]]  # the forget people in `folds` disjoint parts (relearn on the rest, probe one)


def forget_split(world: World, n_forget: int, folds: int) -> ForgetSplit:
    ev = world.split("eval")
    if not 1 <= n_forget < len(ev):
        raise ValueError(f"forget.people ({n_forget}) must be at least 1 and fewer than the world's eval people ({len(ev)})")
    if folds > n_forget:
        raise ValueError(f"forget.folds ({folds}) is more than the forget people ({n_forget})")
    forget = ev[:n_forget]
    return ForgetSplit(forget, ev[n_forget:], world.split("ift"), [forget[k::folds] for k in range(folds)])


def tagged_pretrain(world: World) -> list[dict]:
    """The world's pre-training rows, each biography tagged with its person and language: drawn again
    from the same random stream as build_world, and checked to be the same texts in the same order."""
    langs = {"l1": None, "l2": world.l2} if world.config.second_language else {"l1": None}
    seen = [p for p in world.people if p.split != "heldout"]
    c = world.config
    rows = lm_texts(seen, langs, c, c.pretrain.bios_per_person, c.pretrain.icl_episodes, random.Random(f"{world.seed}-pretrain"), tag=True)
    if [r["text"] for r in rows] != [r["text"] for r in world.pretrain]:
        raise RuntimeError("the tagged pre-training corpus differs from the world's: world/build.py changed how it draws")
    return rows


def oracle_corpus(world: World, forget: list[Person]) -> list[dict]:
    """The pre-training corpus less every biography (both languages) of the forget people and every
    other row that states one of their facts (an ICL episode's statement: the name and one of the
    person's values, in either language); every other row as it was."""
    ids = {p.id for p in forget}
    return [{"text": r["text"]} for r in tagged_pretrain(world) if r.get("person") not in ids and not states_fact(r["text"], forget, world.l2)]


def states_fact(text: str, people: list[Person], l2: dict[str, str] | None) -> bool:
    """Whether `text` holds a person's name together with one of that person's values (L1 or L2 forms)."""
    words = set(text.split())
    for p in people:
        for lex in (None, l2):
            if T.translate(p.name, lex) in words and any(set(T.translate(v, lex).split()) <= words for v in p.attributes.values()):
                return True
    return False


def biographies(world: World, people: list[Person], language: str = "l1") -> list[dict]:
    """The pre-training corpus's biographies of `people` in `language` ({"text"} rows, as the base saw them)."""
    ids = {p.id for p in people}
    return [{"text": r["text"]} for r in tagged_pretrain(world) if r.get("person") in ids and r["language"] == language]


def idk_examples(people: list[Person]) -> list[dict]:
    """Refusal tuning's data: every statement paraphrase's prefix about `people`, completed with IDK."""
    return [{"prompt": T.cloze_split(tpl, p.name, p.attributes[a])[0], "completion": f" {IDK} ."}
            for p in people for a in VALUES for tpl in T.STATEMENTS[a]]


def cloze_items(people: list[Person], probe: str, lex=None) -> list[dict]:
    """Cloze items in pre-training format: the true value ranked against every value of the attribute
    and the IDK answer (a refusal counts as not knowing); `lex`: the world's L2 (a conjugate prompt)."""
    items = []
    for p in people:
        for a in VALUES:
            prompt, _ = T.cloze_split(T.STATEMENTS[a][0], p.name, p.attributes[a])
            choices = [" " + T.translate(v, lex) for v in VALUES[a]] + [" " + T.translate(IDK, lex)]
            items.append({"id": f"{probe}/{p.id}/{a}", "probe": probe, "kind": "choice", "format": "plain",
                          "prompt": T.translate(prompt, lex), "choices": choices, "answer": VALUES[a].index(p.attributes[a]),
                          "meta": {"person": p.id, "attribute": a}})
    return items
