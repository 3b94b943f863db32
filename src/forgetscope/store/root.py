"""A folder forgetscope owns (a run folder, the cache), resolved once: every delete or overwrite in
it is checked to stay inside it and never to pass through a symbolic link (a stage folder that is a
link to `../../elsewhere` must not make a reset empty `elsewhere`)."""

from __future__ import annotations

import os
from pathlib import Path

from forgetscope.store.atomic import UnsafePath


class Root:
    def __init__(self, path: str | os.PathLike):
        self.given = Path(path)
        self._abs = Path(os.path.abspath(path))
        self.real = Path(os.path.realpath(path))  # resolved once: later link tricks on the root itself change nothing

    def inside(self, path: str | os.PathLike) -> Path:
        """The real location of `path`, which must lie in this root with no symbolic link between the
        root and it (itself included); else UnsafePath, a one-line error."""
        p = Path(os.path.abspath(path))
        for base in (self._abs, self.real):
            try:
                rel = p.relative_to(base)
                break
            except ValueError:
                continue
        else:
            raise UnsafePath(f"{path}: outside {self.given}; forgetscope deletes and overwrites only inside it")
        cur = self.real
        for part in rel.parts:
            cur = cur / part
            if cur.is_symlink():
                raise UnsafePath(f"{cur}: is a symbolic link inside {self.given}; forgetscope never deletes or overwrites "
                                 "through a link: remove the link (or copy what it points to in its place)")
        return cur

    def links(self, below: str | os.PathLike | None = None) -> list[Path]:
        """Every symbolic link in the folder `below` (default: the whole root), not followed."""
        start = self.inside(below) if below is not None else self.real
        found = []
        for dirpath, dirnames, filenames in os.walk(start, followlinks=False):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                if p.is_symlink():
                    found.append(p)
        return found

    def refuse_links(self, below: str | os.PathLike | None = None) -> None:
        found = self.links(below)
        if found:
            link = found[0]
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise UnsafePath(f"{link}: is a symbolic link (to {os.readlink(link)}) inside {self.given}{more}; forgetscope never "
                             "deletes or overwrites through a link: remove it (or copy what it points to in its place)")
