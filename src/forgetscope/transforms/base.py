"""The transform protocol, and the registry that turns a config's transform name into a transform.

A transform maps a prompt into a form far from the fine-tuning distribution that still needs the
same capability (conjugate prompting, Kotha et al.): another language, leetspeak, pig latin. It is
applied to the whole final prompt text (instruction, labels and inputs alike, as in the paper),
after any template slots are filled and before a chat template is rendered. `expected` says how a
pattern-following answer changes under it. Rules and examples: docs/transforms.md.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import ClassVar

from forgetscope.errors import UserError
from forgetscope.registry import Entry, Registry


class Transform:
    """One prompt transform. Subclasses set `name` and override `apply` and `describe`.

    Class attributes a suite may branch on:
    - `invertible`: `invert` maps transformed text back (up to what the transform loses, see `describe`);
    - `wordwise`: the transform maps each word on its own, keeping word order, so "the first word of
      the transformed query" equals "the transform of the query's first word";
    - `reads_dataset`: the transform does not rewrite strings; the suite must read its text from the
      dataset's parallel columns (`select`, see parallel.py).
    """

    name: ClassVar[str] = ""
    invertible: ClassVar[bool] = False
    wordwise: ClassVar[bool] = True
    reads_dataset: ClassVar[bool] = False

    @property
    def label(self) -> str:
        """The condition name in result tables; transforms with options add them ("parallel:fr")."""
        return self.name

    def apply(self, text: str) -> str:
        raise NotImplementedError

    def apply_many(self, texts: Sequence[str]) -> list[str]:
        """`apply` over many texts; a model-backed transform batches them."""
        return [self.apply(t) for t in texts]

    def expected(self, answer: str) -> str:
        """The pattern-following answer as it must appear in the output of a transformed prompt."""
        return self.apply(answer)

    def invert(self, text: str) -> str:
        raise NotImplementedError(f"transform '{self.name}' is not invertible")

    def describe(self) -> str:
        """The rule, in one paragraph (the same text as in docs/transforms.md)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<transform {self.label}>"


# Imported on lookup only, so naming a transform never loads a model library.
TRANSFORMS = Registry("transform", [
    Entry("identity", "forgetscope.transforms.identity:Identity", "the prompt as it is"),
    Entry("leetspeak", "forgetscope.transforms.leetspeak:Leetspeak", "a→4 e→3 i→1 o→0 s→5 t→7"),
    Entry("piglatin", "forgetscope.transforms.piglatin:PigLatin", "word rules (docs/transforms.md)"),
    Entry("parallel", "forgetscope.transforms.parallel:ParallelTranslation", "another language's text from the dataset's parallel columns"),
    Entry("mt_model", "forgetscope.transforms.mt_model:MTModelTranslation", "translate with a local sequence-to-sequence model folder"),
    Entry("world_l2", "forgetscope.transforms.world_l2:WorldL2", "the fact world's second language (word bijection)"),
])


def transform_class(name: str) -> type[Transform]:
    return TRANSFORMS.get(name)


def get_transform(name: str, **options) -> Transform:
    """The transform called `name`, built with `options` (its constructor's keyword arguments).
    Unknown names, unknown options and missing options are one-line UserErrors."""
    cls = transform_class(name)
    params = {p.name: p for p in list(inspect.signature(cls).parameters.values())
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    allowed = ", ".join(params) or "none"
    for key in options:
        if key not in params:
            raise UserError(f"transform {name!r} has no option {key!r} (options: {allowed})")
    missing = [k for k, p in params.items() if p.default is p.empty and k not in options]
    if missing:
        raise UserError(f"transform {name!r} needs option {missing[0]!r} (options: {allowed})")
    return cls(**options)
