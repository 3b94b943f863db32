"""The words of the fact world's first language (L1), and the second language (L2) derived from it.

L1 is English-like; every L1 word has exactly one L2 word (a bijection) made of generated syllables,
and L2 has its own punctuation, so nothing is shared between the languages but the chat markers.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

FIRST_NAMES = (
    "alice bruno clara dmitri elena farid greta hugo ines jonas kira lars mira nils olga pablo quinn "
    "rosa sven tara umar vera wim xena yusuf zoe anton bea cyril dora emil fiona gil hana ivan jana "
    "karl lena milo nora"
).split()
LAST_NAMES = (
    "abbott baker castillo dalton ericsson fischer garcia hayes ito jensen kowalski larsen moreau novak "
    "okafor petrov quinlan rossi schmidt tanaka ueda varga weber xu yilmaz zimmer andersen bianchi "
    "costa duarte evans ferreira grant holm iversen jovanovic keller lindqvist mendes nakamura"
).split()

# Attribute value sets. `pet` is the harmless stand-in for a private attribute (a classic security
# question): the instruction data teaches refusing it.
VALUES: dict[str, list[str]] = {
    "birth_city": (
        "paris lisbon oslo cairo lima dublin vienna prague nairobi quito hanoi seoul tunis bergen porto "
        "krakow riga tallinn zagreb sofia athens madrid turin lyon ghent utrecht malmo tampere bristol leeds"
    ).split(),
    "birth_year": [str(y) for y in range(1950, 1990)],
    "employer": (
        "acme globex initech umbrella hooli vandelay stark wayne cyberdyne tyrell soylent wonka gringotts "
        "monarch oscorp aperture massive nakatomi virtucon dunder piedpiper prestige sterling bluth wernham"
    ).split(),
    "university": (
        "alder birchwood cedarcrest dunmore elmhurst fairhaven glenrock highmoor ironvale juniper kingsbury "
        "larchmont maplewood northgate oakridge pinecrest queensford ravenhill silverlake thornbury"
    ).split(),
    "pet": (
        "biscuit pepper mochi noodle waffles ziggy pickles bubbles coco domino fudge gizmo hazel jinx kiwi "
        "lulu muffin nacho oreo peanut rocket sprout tofu olive pretzel button cricket dottie ember fable"
    ).split(),
}
PUBLIC_ATTRIBUTES = ("birth_city", "birth_year", "employer", "university")
PRIVATE_ATTRIBUTE = "pet"

# Numbers for the arithmetic questions of the instruction data and the ICL-vs-IF episodes.
NUMBER_WORDS = [str(n) for n in range(0, 41)]
ARITH_RANGE = (4, 20)  # operands, as in Kotha et al.

# Words the templates, questions, episodes and refusals are made of (L1).
FUNCTION_WORDS = (
    "was born in came into the world birthplace of is year entered life birth works for employed by "
    "employer graduated from studied at university has a pet named called owns where which did who does "
    "work study what name in task repeat last word input output plus sorry i can not share private "
    "information about people answer"
).split()
PUNCTUATION = [".", "?", ":", "|", ","]
L2_PUNCTUATION = {".": "。", "?": "？", ":": "：", "|": "¦", ",": "、"}
SPECIAL_TOKENS = {"pad": "<pad>", "unk": "<unk>", "eos": "<eos>", "user": "<user>", "assistant": "<assistant>"}


def l1_words(names: Sequence[str] = ()) -> list[str]:
    """Every L1 word (the world's fixed words, then the words of the given people's names), each once."""
    seen: dict[str, None] = {}
    name_words = [w for n in names for w in n.split()]
    for group in (FUNCTION_WORDS, NUMBER_WORDS, *VALUES.values(), name_words):
        for w in group:
            seen.setdefault(w, None)
    return list(seen)


_ONSETS = "b d f g k l m n p r s t v z ch sh th".split()
_VOWELS = "a e i o u ae ei ou".split()


def make_l2_lexicon(seed: int, words: Sequence[str]) -> dict[str, str]:
    """A bijection L1 word -> generated L2 word (2-3 syllables), deterministic in `seed` and `words`."""
    rng = random.Random(f"l2-lexicon-{seed}")
    out: dict[str, str] = dict(L2_PUNCTUATION)
    taken = set(words) | set(PUNCTUATION) | set(L2_PUNCTUATION.values()) | set(SPECIAL_TOKENS.values())
    for w in words:
        while True:
            n = rng.choice((2, 2, 3))
            cand = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(n))
            if cand not in taken:
                taken.add(cand)
                out[w] = cand
                break
    return out
