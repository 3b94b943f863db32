"""Reading configs: YAML with line numbers, overrides from the command line, one-line errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from forgetscope.config.base import MovedKey
from forgetscope.errors import UserError

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


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a nested mapping, in order."""
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
    return data


def validate_config(model: type[M], data: dict[str, Any], source: str, lines: dict[tuple, int] | None = None) -> M:
    """Validate `data` against `model`; the first error becomes a one-line UserError naming field and line."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(e, source, lines or {}, data)) from None


def format_validation_error(e: ValidationError, source: str, lines: dict[tuple, int], data: Any = None) -> str:
    err = e.errors()[0]
    loc = _data_path(tuple(p for p in err["loc"] if not _is_union_tag(p)), data)
    moved = (err.get("ctx") or {}).get("error")
    if isinstance(moved, MovedKey):
        loc = (*loc, moved.key)
    field = ".".join(str(p) for p in loc) or "(top level)"
    line = _nearest_line(loc, lines)
    where = f"{source}:{line}" if line else source
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check its spelling; `forgetscope validate --help` lists the schema)"
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif isinstance(moved, MovedKey):
        msg = f"this key has moved: write {moved.new_place}"
    more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
    return f"{where}: field '{field}': {msg}{more}"


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
        else:
            out += loc[i:]
            break
    return tuple(out)


def _is_union_tag(p: Any) -> bool:
    # pydantic puts the chosen member of a tagged union into the location ("tiny", "function-after[...]").
    return isinstance(p, str) and ("[" in p or p in {"tagged-union"})


def _nearest_line(loc: tuple, lines: dict[tuple, int]) -> int | None:
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
