"""Reading training data. Errors name the file and line; nothing is half-read silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from forgetscope.errors import UserError

Format = Literal["text", "prompt_completion", "messages"]


def read_jsonl(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such data file")
    rows = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{lineno}: malformed JSON: {e.msg} (column {e.colno})") from None
            if not isinstance(row, dict):
                raise UserError(f"{path}:{lineno}: expected a JSON object per line, got {type(row).__name__}")
            rows.append(row)
    if not rows:
        raise UserError(f"{path}: no rows")
    return rows


def load_rows(source: str | Path, *, split: str = "train") -> list[dict]:
    """Rows from a local .jsonl/.json/.parquet file, or a dataset on the hub (needs `datasets`)."""
    s = str(source)
    path = Path(s).expanduser()
    if path.suffix in {".jsonl", ".json"}:
        return read_jsonl(path)
    if path.suffix == ".parquet":
        if not path.exists():
            raise UserError(f"{path}: no such data file")
        import pandas as pd

        try:
            return pd.read_parquet(path).to_dict(orient="records")
        except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds
            raise UserError(f"{path}: not a readable Parquet file: {str(e).splitlines()[0]}") from None
    if path.exists() or s.startswith((".", "/", "~")):
        raise UserError(f"{path}: unsupported data file (use .jsonl, .json or .parquet)")
    try:
        import datasets
    except ImportError:
        raise UserError(f"{s}: hub datasets need the `datasets` package (pip install datasets)") from None
    try:
        return list(datasets.load_dataset(s, split=split))
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{s}: could not load the dataset: {str(e).splitlines()[0]}") from None


def detect_format(rows: list[dict], source: str) -> Format:
    """The TRL format of a dataset, checked on every row."""
    first = rows[0]
    if "messages" in first:
        fmt: Format = "messages"
    elif "prompt" in first and "completion" in first:
        fmt = "prompt_completion"
    elif "text" in first:
        fmt = "text"
    else:
        raise UserError(f"{source}:1: expected a 'text', 'prompt'+'completion' or 'messages' field, found {sorted(first)}")
    need = {"messages": ("messages",), "prompt_completion": ("prompt", "completion"), "text": ("text",)}[fmt]
    for i, row in enumerate(rows, 1):
        for key in need:
            if key not in row:
                raise UserError(f"{source}:{i}: missing field '{key}' (the file is in the '{fmt}' format)")
        if fmt == "messages":
            _check_messages(row["messages"], f"{source}:{i}")
        elif fmt == "text" and not isinstance(row["text"], str):
            raise UserError(f"{source}:{i}: field 'text' must be a string")
    return fmt


def _check_messages(msgs, where: str) -> None:
    if not isinstance(msgs, list) or not msgs:
        raise UserError(f"{where}: 'messages' must be a non-empty list")
    for m in msgs:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise UserError(f"{where}: each message needs 'role' and 'content'")


def lm_texts(rows: list[dict], source: str) -> list[str]:
    if detect_format(rows, source) != "text":
        raise UserError(f"{source}: LM training (restoration, pre-training) needs the 'text' format")
    return [r["text"] for r in rows]


def sft_pairs(rows: list[dict], tokenizer, source: str) -> list[tuple[str, str]]:
    """(prompt, completion) strings; the loss will fall on the completion only.

    `messages` rows are rendered with the tokenizer's chat template; the completion is the last
    assistant turn, as TRL's `assistant_only_loss` would mark it for a two-turn chat.
    """
    fmt = detect_format(rows, source)
    if fmt == "text":
        raise UserError(f"{source}: SFT needs 'prompt'/'completion' or 'messages' rows, found 'text'")
    pairs = []
    for i, row in enumerate(rows, 1):
        if fmt == "prompt_completion" and isinstance(row["prompt"], str):
            pairs.append((row["prompt"], row["completion"]))
            continue
        msgs = row["messages"] if fmt == "messages" else [*row["prompt"], *row["completion"]]
        if msgs[-1]["role"] != "assistant":
            raise UserError(f"{source}:{i}: the last message must be the assistant's")
        if tokenizer.chat_template is None:
            raise UserError(f"{source}: chat rows need a tokenizer with a chat template")
        prompt = tokenizer.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(msgs, tokenize=False)
        if not full.startswith(prompt):
            raise UserError(f"{source}:{i}: the chat template does not render the prompt as a prefix of the chat")
        pairs.append((prompt, full[len(prompt):]))
    return pairs
