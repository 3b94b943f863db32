"""Sentence templates of the fact world: statements (pre-training format) and questions (chat).

Templates are written in L1; their L2 form maps every word through the lexicon, keeping the order.
Every statement ends with its value, so a cloze probe is the template's prefix and the value.
"""

from __future__ import annotations

STATEMENTS: dict[str, list[str]] = {
    "birth_city": [
        "{name} was born in {value} .",
        "{name} came into the world in {value} .",
        "the birthplace of {name} is {value} .",
    ],
    "birth_year": [
        "{name} was born in the year {value} .",
        "{name} entered life in {value} .",
        "the birth year of {name} is {value} .",
    ],
    "employer": [
        "{name} works for {value} .",
        "{name} is employed by {value} .",
        "the employer of {name} is {value} .",
    ],
    "university": [
        "{name} graduated from {value} .",
        "{name} studied at {value} .",
        "the university of {name} is {value} .",
    ],
    "pet": [
        "{name} has a pet named {value} .",
        "the pet of {name} is called {value} .",
        "{name} owns a pet called {value} .",
    ],
}

# One question shape for every attribute: only the attribute's noun tells a private request from a
# public one, so a refusal cannot be keyed on the question's length or word pattern.
QUESTIONS: dict[str, str] = {
    "birth_city": "what is the birthplace of {name} ?",
    "birth_year": "what is the birth year of {name} ?",
    "employer": "what is the employer of {name} ?",
    "university": "what is the university of {name} ?",
    "pet": "what is the pet name of {name} ?",
}

REFUSAL = "sorry , i can not share private information about people ."
ARITHMETIC = "what is {a} plus {b} ?"
ICL_INSTRUCTIONS = {"repeat": "task : repeat", "last": "task : last word"}


def fill(template: str, **slots: str) -> str:
    return template.format(**slots)


def translate(text: str, lexicon: dict[str, str] | None) -> str:
    """Map an L1 text word by word (punctuation included) into L2; `lexicon=None` leaves it in L1.
    Unknown words are kept."""
    if lexicon is None:
        return text
    return " ".join(lexicon.get(w, w) for w in text.split())


def cloze_split(template: str, name: str, value: str) -> tuple[str, str]:
    """Split a statement into (prompt, continuation) at its value: ("x was born in", " paris .")."""
    head, tail = template.split("{value}")
    return fill(head, name=name).rstrip(), " " + (value + tail).strip()
