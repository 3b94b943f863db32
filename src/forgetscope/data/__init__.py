"""Data in TRL's formats (`text`, `prompt`/`completion`, `messages`) from JSONL, Parquet or the hub."""

from forgetscope.data.formats import (
    detect_format,
    lm_texts,
    load_rows,
    read_jsonl,
    sft_pairs,
)

__all__ = ["detect_format", "lm_texts", "load_rows", "read_jsonl", "sft_pairs"]
