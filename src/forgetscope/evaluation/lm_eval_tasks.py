"""lm-eval task names, as a config gives them: the config model, lm-eval's task index and the check
that every name is known. Kept apart from the backend (lm_eval_backend) so that loading a config
imports neither torch nor lm-eval; lm-eval itself is imported only to check or run a task."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from forgetscope.config import StrictModel
from forgetscope.errors import UserError

MAX_FEWSHOT = 1_000  # few-shot examples in one prompt
MAX_DOCUMENTS = 100_000_000  # documents of one task (`limit`)

INSTALL_HINT = "the lm-evaluation-harness backend needs lm-eval: pip install 'forgetscope[lmeval]'"


def require_lm_eval():
    try:
        import lm_eval  # noqa: F401
        from lm_eval.models.huggingface import HFLM  # noqa: F401
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    import lm_eval

    return lm_eval


class LmEvalTask(StrictModel):
    """An lm-eval task (or group) with its settings; a bare name takes lm-eval's defaults."""

    name: str = Field(..., description="lm-eval task, group or tag name")
    num_fewshot: int | None = Field(None, ge=0, le=MAX_FEWSHOT, description="few-shot examples (default: the task's own)")
    limit: int | None = Field(None, ge=1, le=MAX_DOCUMENTS, description="only the first documents")
    apply_chat_template: bool = Field(False, description="render prompts with the tokenizer's chat template")
    fewshot_as_multiturn: bool = Field(False, description="few-shot examples as chat turns (needs apply_chat_template)")
    gen_kwargs: dict[str, Any] | None = Field(None, description="generation settings of generate_until tasks")
    metric: str | None = Field(None, description="the per-document metric the decomposition uses (default: the task's first)")

    @model_validator(mode="before")
    @classmethod
    def _name_only(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _multiturn_needs_chat(self) -> LmEvalTask:
        if self.fewshot_as_multiturn and not self.apply_chat_template:
            raise ValueError("fewshot_as_multiturn needs apply_chat_template: true")
        return self


@functools.cache
def task_manager(include_defaults: bool, include_path: tuple[str, ...] = ()):
    """lm-eval's task index; indexing its own task folder takes ~10-15 s, so it is built once."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_defaults=include_defaults, include_path=list(include_path) or None)


def manager_for(names: Sequence[str], include_path: Sequence[str]):
    """The smallest index that knows `names`: the include path alone when it holds them all."""
    include = tuple(str(Path(p).expanduser().resolve()) for p in include_path)
    if include:
        local = task_manager(False, include)
        if all(n in local.all_tasks for n in names):
            return local
    return task_manager(True, include)


def _yaml_fingerprint(version: str, folders: Sequence[str]) -> str:
    """A key that changes when lm-eval's version or any task YAML in `folders` (added, removed, edited:
    its path, size and modification time) changes."""
    h = hashlib.sha256(f"lm-eval {version}\n".encode())
    for folder in folders:
        h.update(f"folder {folder}\n".encode())
        for parent, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(f for f in files if f.endswith((".yaml", ".yml"))):
                st = os.stat(os.path.join(parent, name))
                h.update(f"{os.path.relpath(os.path.join(parent, name), folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def known_task_names(include_path: Sequence[str] = ()) -> frozenset[str]:
    """Every task, group and tag name lm-eval knows, from its own task folder and `include_path`.
    Building lm-eval's index reads ~14,700 YAML files (10-15 s in every process); the names are kept
    in the forgetscope cache (`<cache>/lm-eval-tasks/<key>.json`), keyed on lm-eval's version and the
    path, size and modification time of every task YAML in those folders, so a later process's check
    costs a walk of the folders (~0.2 s). Within a process the names are looked up once per include
    path, as lm-eval's index is (`task_manager`): a run checks its tasks before every model it
    evaluates. An unreadable or damaged cache file is built again."""
    return _known_task_names(tuple(str(Path(p).expanduser().resolve()) for p in include_path))


@functools.cache
def _known_task_names(include: tuple[str, ...]) -> frozenset[str]:
    from importlib.metadata import version

    import lm_eval

    from forgetscope.cache import cache_root
    from forgetscope.store import atomic_write_json

    lm_eval_version = version("lm_eval")
    folders = [str(Path(lm_eval.__file__).resolve().parent / "tasks"), *include]
    path = cache_root() / "lm-eval-tasks" / f"{_yaml_fingerprint(lm_eval_version, folders)}.json"
    try:
        names = json.loads(path.read_text(encoding="utf-8"))["names"]
        if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
            return frozenset(names)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    names = sorted(task_manager(True, include).all_tasks)
    try:
        atomic_write_json(path, {"lm_eval": lm_eval_version, "folders": folders, "names": names})
    except OSError:  # a read-only cache costs time, not correctness
        pass
    return frozenset(names)


def check_lm_eval_tasks(names: Sequence[str | LmEvalTask], include_path: Sequence[str] = (),
                        include_field: str = "eval.lm_eval_include_path") -> None:
    """One-line UserError if lm-eval is missing or does not know one of `names` (lm-eval's task
    folder and `include_path`, folders of your own task YAMLs, the config field `include_field`).
    Names the include path alone knows are checked on its own index (what `manager_for` runs them
    with), without lm-eval's (seconds to build)."""
    require_lm_eval()
    for p in include_path:
        if not Path(p).expanduser().is_dir():
            raise UserError(f"{include_field}: {p}: no such folder")
    names = [n if isinstance(n, str) else n.name for n in names]
    include = tuple(str(Path(p).expanduser().resolve()) for p in include_path)
    if include and all(n in task_manager(False, include).all_tasks for n in names):
        return  # the index `manager_for` runs them with: built once per process, by whichever comes first
    known = known_task_names(include_path)
    unknown = [n for n in names if n not in known]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UserError(f"lm-eval does not know the task {unknown[0]!r}{hint} (`lm-eval ls tasks` lists them)")
