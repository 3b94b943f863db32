"""The fact world's second language (L2): a word-by-word bijection, punctuation included."""

from __future__ import annotations

from pathlib import Path

from forgetscope.errors import UserError
from forgetscope.transforms.base import Transform
from forgetscope.world.build import read_l2_lexicon
from forgetscope.world.templates import translate

RULE = (
    "world_l2: the fact world's second language. The text is split at whitespace and every token "
    "found in the world's lexicon (an L1 → L2 bijection over its words and punctuation: \".\" → \"。\", "
    "\"?\" → \"？\", \",\" → \"、\", \":\" → \"：\", \"|\" → \"¦\") is replaced by its L2 word; other tokens "
    "are kept; the result is joined with single spaces (forgetscope.world.templates.translate). The "
    "world's own texts are lower-case words with punctuation as separate tokens (\"what is 4 plus 5 ?\"), "
    "so they translate completely; \"task.\" or \"Task\" would not be found and would stay. The "
    "expected answer is translated the same way. `invert` applies the reverse lexicon: exact on "
    "translated world text."
)


class WorldL2(Transform):
    name = "world_l2"
    invertible = True

    def __init__(self, world: str | Path | None = None, *, lexicon: dict[str, str] | None = None):
        """`world`: a world folder (or its world.json); or `lexicon`: the L1 → L2 mapping itself."""
        if (world is None) == (lexicon is None):
            raise UserError("transform 'world_l2': give exactly one of 'world' (a world folder) and 'lexicon'")
        lex = read_l2_lexicon(world) if world is not None else lexicon
        where = f"{world}: l2_lexicon" if world is not None else "transform 'world_l2': lexicon"
        reverse: dict[str, str] = {}
        for src, dst in lex.items():
            if not isinstance(src, str) or not isinstance(dst, str):
                raise UserError(f"{where}: entries must map a word to a word, got {src!r}: {dst!r}")
            if dst in reverse:
                raise UserError(f"{where}: not a bijection, {reverse[dst]!r} and {src!r} both map to {dst!r}")
            reverse[dst] = src
        self.lexicon = dict(lex)
        self.reverse = reverse

    def apply(self, text: str) -> str:
        return translate(text, self.lexicon)

    def invert(self, text: str) -> str:
        return translate(text, self.reverse)

    def describe(self) -> str:
        return RULE
