"""Training data in TRL's formats (`text`, `prompt`/`completion`, `messages`). Errors name the file and
line (or row); nothing is half-read silently. Where rows come from: data/sources.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from forgetscope.errors import UserError

Format = Literal["text", "prompt_completion", "messages"]


def read_jsonl(path: str | Path) -> list[dict]:
    """A shipped JSON Lines file (suites, probes): every row must be an object."""
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


Loss = Literal["completion", "assistant", "all"]
Segments = list[tuple[str, bool]]  # (text, counts in the loss)


def detect_format(rows: list[dict], source: str, places: list[str] | None = None) -> Format:
    """The TRL format of a dataset, checked on every row (`places`: each row's file:line)."""
    first = rows[0]
    where = places or [f"{source}:{i}" for i in range(1, len(rows) + 1)]
    if "messages" in first:
        fmt: Format = "messages"
    elif "prompt" in first and "completion" in first:
        fmt = "prompt_completion"
    elif "text" in first:
        fmt = "text"
    else:
        raise UserError(f"{where[0]}: expected a 'text', 'prompt'+'completion' or 'messages' field, found {sorted(first)}")
    need = {"messages": ("messages",), "prompt_completion": ("prompt", "completion"), "text": ("text",)}[fmt]
    for row, at in zip(rows, where, strict=False):
        for key in need:
            if key not in row:
                raise UserError(f"{at}: missing field '{key}' (the data is in the '{fmt}' format)")
        if fmt == "messages":
            _check_messages(row["messages"], f"{at}: field 'messages'")
        elif fmt == "text" and not isinstance(row["text"], str):
            raise UserError(f"{at}: field 'text' must be a string, got {type(row['text']).__name__}")
        elif fmt == "prompt_completion":
            for key in need:
                value = row[key]
                if isinstance(value, str):
                    continue
                _check_messages(value, f"{at}: field '{key}'", "a string or a non-empty list of messages")
    return fmt


# The roles of a chat (TRL's conversational format); a chat template may drop a role it does not know
# without a word (the synthetic world's renders only user and assistant), so another is refused here.
ROLES = ("system", "user", "assistant", "tool")


def _check_messages(msgs, where: str, expected: str = "a non-empty list of messages") -> None:
    if not isinstance(msgs, list) or not msgs:
        got = "an empty list" if isinstance(msgs, list) else type(msgs).__name__
        raise UserError(f"{where}: must be {expected}, got {got}")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise UserError(f"{where}: message {i}: each message needs 'role' and 'content'")
        if m["role"] not in ROLES:
            raise UserError(f"{where}: message {i}: unknown role {m['role']!r} (one of: {', '.join(ROLES)})")
        if not isinstance(m["content"], str):
            raise UserError(f"{where}: message {i}: a message's 'content' must be a string, got {type(m['content']).__name__}")


def lm_texts(rows: list[dict], source: str) -> list[str]:
    if detect_format(rows, source) != "text":
        raise UserError(f"{source}: LM training (restoration, pre-training) needs the 'text' format")
    return [r["text"] for r in rows]


def sft_segments(rows: list[dict], tokenizer, source: str, loss: Loss = "completion") -> list[Segments]:
    """Each example as (text, in the loss) segments, concatenated in order.

    loss "completion": the completion of a `prompt`/`completion` row, the last assistant turn of a
      `messages` row (TRL's `completion_only_loss` on prompt/completion data);
    loss "assistant": every assistant turn of a chat (TRL's `assistant_only_loss`);
    loss "all": every token (TRL's default for `messages` and `text` data).
    Chats are rendered with the tokenizer's chat template; a turn's text is what rendering it adds.
    """
    fmt = detect_format(rows, source)
    if fmt == "text":
        raise UserError(f"{source}: SFT needs 'prompt'/'completion' or 'messages' rows; 'text' rows are LM data (continued pre-training)")
    out = []
    for i, row in enumerate(rows, 1):
        if fmt == "prompt_completion" and isinstance(row["prompt"], str):
            if not isinstance(row["completion"], str):
                raise UserError(f"{source}:{i}: a string 'prompt' needs a string 'completion'")
            segs = [(row["prompt"], loss == "all"), (row["completion"], True)]
        else:
            msgs = row["messages"] if fmt == "messages" else [*row["prompt"], *row["completion"]]
            segs = _chat_segments(msgs, tokenizer, f"{source}:{i}", loss)
        out.append([s for s in segs if s[0]])
    return out


def _chat_segments(msgs: list[dict], tokenizer, where: str, loss: Loss) -> Segments:
    if msgs[-1]["role"] != "assistant":
        raise UserError(f"{where}: the last message must be the assistant's")
    if tokenizer.chat_template is None:
        raise UserError(f"{where}: chat rows need a tokenizer with a chat template (base.chat_template)")

    def render(upto: int, generation_prompt: bool) -> str:
        return tokenizer.apply_chat_template(msgs[:upto], tokenize=False, add_generation_prompt=generation_prompt)

    full = render(len(msgs), False)
    if loss == "all":
        return [(full, True)]
    turns = [len(msgs) - 1] if loss == "completion" else [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    segs: Segments = []
    done = ""
    for t in turns:
        prompt = render(t, True)
        answer = render(t + 1, False) if t + 1 < len(msgs) else full
        if not (prompt.startswith(done) and answer.startswith(prompt) and full.startswith(answer)):
            raise UserError(f"{where}: the chat template does not render each turn as a prefix of the chat")
        segs += [(prompt[len(done):], False), (answer[len(prompt):], True)]
        done = answer
    segs.append((full[len(done):], False))
    return segs


def sft_pairs(rows: list[dict], tokenizer, source: str) -> list[tuple[str, str]]:
    """(prompt, completion) strings: `sft_segments` with the loss on the completion only."""
    return [("".join(t for t, on in segs if not on), "".join(t for t, on in segs if on))
            for segs in sft_segments(rows, tokenizer, source, "completion")]
