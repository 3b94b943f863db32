"""Reading configs: YAML with line numbers, overrides from the command line, one-line errors."""

from __future__ import annotations

import difflib
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from forgetscope.config.base import MovedKey
from forgetscope.errors import Problems, UserError

M = TypeVar("M", bound=BaseModel)


MAX_CONFIG_BYTES = 256 * 1024  # a config is a page of settings; anything larger is not one
MAX_DEPTH = 64  # nesting of sections and lists (a config needs about six)
# libyaml when PyYAML has it: the pure-Python scanner costs O(depth) per token (minutes on 100 kB).
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: str | Path) -> tuple[dict[str, Any], dict[tuple, int]]:
    """Parse a YAML mapping; also return the line (1-based) of every key path, for error messages.

    Anchors and aliases are refused: a few hundred bytes of nested aliases expand to billions of
    entries for every reader after the parser (validation, hashing, printing)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected a YAML file")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise UserError(f"{path}: {path.stat().st_size} bytes; a config is at most {MAX_CONFIG_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not UTF-8 text (byte {e.object[e.start]:#04x})") from None
    node = parse_yaml(text, str(path))
    try:
        data = yaml.load(text, Loader=LOADER)  # noqa: S506 - LOADER is a safe loader (CSafeLoader or SafeLoader)
    except RecursionError:
        raise UserError(f"{path}: malformed YAML: nested too deeply") from None
    if data is None:
        raise UserError(f"{path}: the file is empty")
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    lines: dict[tuple, int] = {}
    _collect_lines(node, (), lines)
    return data, lines


def parse_yaml(text: str, source: str):
    """The YAML node tree of `text`; malformed YAML, aliases and absurd nesting are one-line errors,
    found by streaming the parser's events before anything is built."""
    try:
        depth = 0
        for event in yaml.parse(text, Loader=LOADER):
            if isinstance(event, yaml.AliasEvent):
                raise UserError(f"{source}:{event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are not allowed in a config; "
                                "write the value out")
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise UserError(f"{source}:{event.start_mark.line + 1}: malformed YAML: nested more than {MAX_DEPTH} deep")
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
        return yaml.compose(text, Loader=LOADER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"{source}{where}: malformed YAML: {problem}") from None
    except RecursionError:
        raise UserError(f"{source}: malformed YAML: nested too deeply") from None


def _collect_lines(node: Any, prefix: tuple, out: dict[tuple, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*prefix, key_node.value)
            out[key] = key_node.start_mark.line + 1
            _collect_lines(value_node, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key = (*prefix, i)
            out[key] = item.start_mark.line + 1
            _collect_lines(item, key, out)


def apply_overrides(data: dict[str, Any], overrides: list[str], lines: dict[tuple, int | str] | None = None) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a nested mapping, in order. With `lines`
    (load_yaml's), each overridden key's place becomes its `--set` argument, so that an error in it
    names the argument, not the YAML line it replaced."""
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. finetune.train.steps=200")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        try:
            parse_yaml(raw, f"--set {item!r}")
            value = yaml.load(raw, Loader=LOADER)  # noqa: S506 - a safe loader
        except UserError as e:
            raise UserError(f"--set {item!r}: the value is not valid YAML or uses an alias ({e})") from None
        node = data
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise UserError(f"--set {item!r}: {p!r} is not a section")
            node = nxt
        node[parts[-1]] = value
        if lines is not None:
            key_path = tuple(parts)
            for k in [k for k in lines if k[:len(key_path)] == key_path]:
                del lines[k]
            lines[key_path] = f"--set {item!r}"
    return data


def place(source: str, lines: dict[tuple, int | str], loc: tuple) -> str:
    """Where the value at `loc` (or its nearest given parent) was written: `file.yaml:LINE`, or the
    `--set` argument that gave it."""
    line = _nearest_line(loc, lines)
    return line if isinstance(line, str) else f"{source}:{line}" if line else source


def validate_config(model: type[M], data: dict[str, Any], source: str, lines: dict[tuple, int] | None = None) -> M:
    """Validate `data` against `model`; each field at fault is a line (naming field and line) of one UserError."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = validation_problems(e, source, lines or {}, data, model)
        raise (UserError(problems[0]) if len(problems) == 1 else Problems(problems)) from None


def validation_problems(e: ValidationError, source: str, lines: dict[tuple, int | str], data: Any = None,
                        model: type[BaseModel] | None = None) -> list[str]:
    """One line per field at fault (a union's members' complaints about one field are one problem)."""
    by_field: dict[tuple, list[dict]] = {}
    for err in e.errors():
        by_field.setdefault(_data_path(tuple(p for p in err["loc"] if not _is_union_tag(p)), data), []).append(err)
    return [_problem(errs, loc, source, lines, data, model) for loc, errs in by_field.items()]


def _problem(errs: list[dict], loc: tuple, source: str, lines: dict[tuple, int | str], data: Any, model: type[BaseModel] | None) -> str:
    err = errs[0]
    moved = (err.get("ctx") or {}).get("error")
    if isinstance(moved, MovedKey):
        loc = (*loc, moved.key)
    field = ".".join(str(p) for p in loc) or "(top level)"
    where = place(source, lines, loc)
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        known = _keys_at(model, loc[:-1], data) if model is not None and loc else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1) if loc else []
        msg = (f"unknown key; did you mean '{close[0]}'?" if close else
               f"unknown key (one of: {', '.join(known)})" if known else "unknown key (check its spelling)")
    elif err["type"].endswith("_than_equal") or err["type"].endswith("_than"):
        hint = FRACTION_HINT.get(loc[-1]) if loc else None
        msg += f" ({hint})" if hint else ""
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif isinstance(moved, MovedKey):
        msg = f"this key has moved: write {moved.new_place}"
    elif all(x["type"].endswith("_type") for x in errs):  # a union: what each member would take
        msg += "".join(f", or {x['msg'].removeprefix('Input should be ')}" for x in errs[1:])
    return f"{where}: field '{field}': {msg}"


# Numbers that are fractions where the docs and tables speak in points: a bound error says so.
FRACTION_HINT = {"delta": "δ is a fraction: 0.05 = 5 points", "ci_level": "a fraction: 0.95 = 95%"}


def _keys_at(model: type[BaseModel], path: tuple, data: Any) -> list[str]:
    """The keys a config section at `path` accepts (every member's, for a union that `data` does not
    decide), for "did you mean"."""
    candidates: list[Any] = [model]
    node = data
    for p in path:
        node = node.get(p) if isinstance(node, dict) else node[p] if isinstance(node, list) and isinstance(p, int) and p < len(node) else None
        nxt: list[Any] = []
        for c in candidates:
            if isinstance(p, str) and _is_model(c) and p in c.model_fields:
                nxt.append(c.model_fields[p].annotation)
            elif isinstance(p, int) and typing.get_origin(c) in (list, tuple):
                nxt += typing.get_args(c)
            elif isinstance(p, str) and typing.get_origin(c) is dict:
                nxt.append(typing.get_args(c)[-1])
        candidates = [m for a in nxt for m in _members(a)]
        kind = node.get("kind") if isinstance(node, dict) else None
        chosen = [m for m in candidates if _is_model(m) and "kind" in m.model_fields
                  and kind in typing.get_args(m.model_fields["kind"].annotation)]
        candidates = chosen or candidates
    return sorted({k for c in candidates if _is_model(c) for k in c.model_fields})


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _members(annotation: Any) -> list[Any]:
    """The types an annotation may hold: a union's members, an Annotated's type."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def _data_path(loc: tuple, data: Any) -> tuple:
    """`loc` without the parts that are not keys of `data` (a tagged union's member: `base.tiny.model`)."""
    if data is None:
        return loc
    out, node = [], data
    for i, p in enumerate(loc):
        if isinstance(node, dict):
            if p in node:
                out.append(p)
                node = node[p]
            elif any(isinstance(q, str) and q in node for q in loc[i + 1:i + 2]):
                continue  # a tag: the next part is the key
            else:
                out += loc[i:]
                break
        elif isinstance(node, list) and isinstance(p, int) and 0 <= p < len(node):
            out.append(p)
            node = node[p]
        elif isinstance(node, list):
            out += loc[i:]
            break
        else:
            break  # a value has no parts: what follows names a union's member (`finetune.data.str`)
    return tuple(out)


def _is_union_tag(p: Any) -> bool:
    # pydantic puts the chosen member of a tagged union into the location ("tiny", "function-after[...]").
    return isinstance(p, str) and ("[" in p or p in {"tagged-union"})


def _nearest_line(loc: tuple, lines: dict[tuple, int | str]) -> int | str | None:
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def dump_yaml(model: BaseModel) -> str:
    return yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def config_hash(*parts: Any, length: int = 16) -> str:
    """A stable hash of JSON-able parts (pydantic models are dumped first)."""
    norm = [p.model_dump(mode="json") if isinstance(p, BaseModel) else p for p in parts]
    blob = json.dumps(norm, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
