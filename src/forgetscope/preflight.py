"""Fail before compute: every file, folder and name a config gives is read and checked first.

A study's `preflight(cfg)` (its entry in the study registry) lists its checks; `forgetscope validate`
and the start of `forgetscope run` run them, in seconds, before any model trains or is scored. The
first problem is a one-line UserError that names the config field, then the file and line (or row)
and the field inside it. The checks here are the shared pieces: data sources, probe files, models,
existing checkpoints, lm-eval task names. Add a check for a new input here and list it in the
study's preflight.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from forgetscope.errors import UserError

Want = Literal["finetune", "text", "pattern"]


@dataclass
class Check:
    field: str  # the config field it checks, named in its error
    run: Callable[[], object]


def run_checks(checks: Iterable[Check]) -> float:
    """Run every check in order; the first failure is a one-line UserError naming its config field.
    Returns the seconds they took."""
    start = time.perf_counter()
    for check in checks:
        try:
            check.run()
        except UserError as e:
            msg = str(e)
            raise UserError(msg if msg.startswith(check.field) else f"{check.field}: {msg}") from None
    return time.perf_counter() - start


def data(ref, want: Want, tokenizer=None, *, loss: str = "completion") -> int:
    """Read every row of a data source and check it has what `want` needs, row by row; SFT rows are
    rendered with the tokenizer's chat template as fine-tuning will render them. Returns the row count."""
    from forgetscope.data import detect_format, lm_texts, sft_segments
    from forgetscope.data.sources import as_source, load_rows_with_places

    src = as_source(ref)
    placed = load_rows_with_places(src)
    rows, places = [r for _, r in placed], [w for w, _ in placed]
    if want == "pattern":  # chat and plain prompts may be mixed, row by row
        for r, at in zip(rows, places, strict=True):
            if "messages" not in r and "text" not in r:
                raise UserError(f"{at}: expected a 'messages' or 'text' field, found {sorted(r)}")
            detect_format([r], src.label, [at])
        return len(rows)
    fmt = detect_format(rows, src.label, places)
    if want == "text":
        lm_texts(rows, src.label)
    elif want == "finetune" and fmt != "text" and tokenizer is not None:
        sft_segments(rows, tokenizer, src.label, loss)  # type: ignore[arg-type]
    return len(rows)


def probes(ref) -> int:
    from forgetscope.evaluation.items import load_items

    return len(load_items(ref))


def model(spec) -> None:
    """A pretrained model (ModelSpec): its folder (or hub config) and its tokenizer load."""
    spec.check()
    spec.load_tokenizer()


def checkpoints(spec, base) -> list:
    """Existing checkpoints (finetune.checkpoints_from): found, and each a fine-tune of `base`."""
    from forgetscope.models.checkpoints_from import check_against_base, find_checkpoints

    found = find_checkpoints(spec)
    check_against_base(found, base)
    return found


def lm_eval_tasks(tasks, include_path=()) -> None:
    from forgetscope.evaluation.lm_eval_backend import check_lm_eval_tasks

    check_lm_eval_tasks(tasks, include_path)
