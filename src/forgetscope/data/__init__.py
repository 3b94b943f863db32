"""Data in TRL's formats (`text`, `prompt`/`completion`, `messages`) from local files or `datasets`."""

from forgetscope.data.formats import (
    detect_format,
    lm_texts,
    read_jsonl,
    sft_pairs,
    sft_segments,
)
from forgetscope.data.sources import DataSource, as_source, iter_rows, load_rows

__all__ = ["DataSource", "as_source", "detect_format", "iter_rows", "lm_texts", "load_rows", "read_jsonl", "sft_pairs",
           "sft_segments"]
