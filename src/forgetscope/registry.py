"""The one registry shape for every plug-in kind: studies, suites, transforms, restorers. A name maps
to "module:attribute", imported only when the name is looked up, so naming a plug-in in a config
never loads a library it does not need.

An unknown name is a one-line UserError listing the known ones. A plug-in that fails to import is a
bug in that plug-in, not bad input: its ImportError propagates with its traceback (never swallowed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from forgetscope.errors import UserError


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "module:attribute"
    about: str = ""

    def load(self) -> Any:
        return resolve(self.target)


def resolve(target: str) -> Any:
    """The attribute a "module:attribute" string names, its module imported now."""
    module, attr = target.split(":")
    return getattr(import_module(module), attr)


def lazy_members(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """A package's module `__getattr__` (PEP 562) that imports each name from its home module
    (`homes`: name -> module) on first use, so that importing the package for a light member (a
    config class) does not import what its heavy siblings need (torch, transformers)."""

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return resolve(f"{homes[name]}:{name}")

    return __getattr__


class Registry:
    """Named plug-ins of one kind ("study", "suite", "transform", "restorer")."""

    def __init__(self, kind: str, entries: list[Entry]):
        self.kind = kind
        self.entries = {e.name: e for e in entries}

    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def entry(self, name: str) -> Entry:
        if name not in self.entries:
            raise UserError(f"unknown {self.kind} {name!r} (one of: {', '.join(self.entries)})")
        return self.entries[name]

    def get(self, name: str) -> Any:
        """The plug-in called `name` (a class, function or descriptor), imported now."""
        return self.entry(name).load()
