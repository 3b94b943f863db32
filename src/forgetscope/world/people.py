"""People of the fact world: unique names, attribute values, disjoint splits."""

from __future__ import annotations

import random
from dataclasses import dataclass

from forgetscope.world.config import PeopleSplits
from forgetscope.world.lexicon import FIRST_NAMES, LAST_NAMES, VALUES

SPLITS = ("ift", "restore", "eval", "heldout")


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    split: str
    attributes: dict[str, str]


def make_people(splits: PeopleSplits, rng: random.Random, *, one_token_names: bool = True) -> list[Person]:
    """Names are "first last" (two words) or "first-last" (one word: facts bind to a single token,
    which a small model memorises several times faster)."""
    sep = "-" if one_token_names else " "
    names = [f"{f}{sep}{l}" for f in FIRST_NAMES for l in LAST_NAMES]
    total = sum(getattr(splits, s) for s in SPLITS)
    chosen = rng.sample(names, total)
    people: list[Person] = []
    i = 0
    for split in SPLITS:
        for _ in range(getattr(splits, split)):
            attrs = {a: rng.choice(vals) for a, vals in VALUES.items()}
            people.append(Person(id=f"p{i:04d}", name=chosen[i], split=split, attributes=attrs))
            i += 1
    return people
