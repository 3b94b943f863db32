"""Where rows come from: a local file or a Hugging Face `datasets` dataset, with one spec for both.

A data source in a config is either a plain path (`data/sft.jsonl`) or a mapping of
`datasets.load_dataset`'s own arguments:

    {path: org/name, name: config, split: train[:500], data_files: ..., streaming: true, max_rows: 1000}

Local files (.jsonl, .jsonl.gz, .json with an array or JSON Lines, .csv, .parquet) are read here,
so that an error names the file and its line; the rows are the ones `datasets` gives for the same
file (tests/test_data_sources.py checks that). Anything else goes through `datasets.load_dataset`.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import Field

from forgetscope.config import StrictModel
from forgetscope.errors import UserError

MAX_ROWS = 100_000_000  # rows taken from one data source
LOCAL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".csv", ".csv.gz", ".parquet")


class DataSource(StrictModel):
    """Rows from a file or a `datasets` dataset (the arguments of `datasets.load_dataset`)."""

    path: str = Field(..., description="a local file (.jsonl[.gz], .json, .csv, .parquet), a builder (json, csv, parquet) or a hub dataset id")
    name: str | None = Field(None, description="the dataset's configuration name")
    split: str = Field("train", description="split, with slicing as datasets writes it: train, test[:200], train[10%:]")
    data_files: str | list[str] | dict[str, str | list[str]] | None = Field(None, description="files for a builder (json, csv, parquet)")
    streaming: bool = Field(False, description="stream the rows instead of downloading the whole dataset")
    max_rows: int | None = Field(None, ge=1, le=MAX_ROWS, description="keep only the first rows")

    @property
    def label(self) -> str:
        """How errors name this source."""
        if self.is_local_file:
            return self.path
        parts = [self.path] + ([self.name] if self.name else []) + [self.split]
        return ":".join(parts)

    @property
    def is_local_file(self) -> bool:
        return self.data_files is None and self.name is None and _looks_like_file(self.path)


def as_source(ref: str | DataSource) -> DataSource:
    return ref if isinstance(ref, DataSource) else DataSource(path=str(ref))


def _looks_like_file(path: str) -> bool:
    p = Path(path).expanduser()
    return p.name.endswith(LOCAL_SUFFIXES) or p.exists() or path.startswith((".", "/", "~"))


def iter_rows(ref: str | DataSource) -> Iterator[tuple[str, dict]]:
    """(where, row) for every row, `where` being `file:line` (JSON Lines, CSV) or `source:row N`."""
    src = as_source(ref)
    count = 0
    rows = _local_rows(src) if src.is_local_file else _dataset_rows(src)
    for where, row in rows:
        if src.max_rows is not None and count >= src.max_rows:
            return
        if not isinstance(row, dict):
            raise UserError(f"{where}: expected an object per row, got {type(row).__name__}")
        count += 1
        yield where, row


def load_rows(ref: str | DataSource) -> list[dict]:
    """Every row of a source (at most `max_rows`); an empty source is an error."""
    rows = [row for _, row in iter_rows(ref)]
    if not rows:
        raise UserError(f"{as_source(ref).label}: no rows")
    return rows


def load_rows_with_places(ref: str | DataSource) -> list[tuple[str, dict]]:
    rows = list(iter_rows(ref))
    if not rows:
        raise UserError(f"{as_source(ref).label}: no rows")
    return rows


# -- local files ------------------------------------------------------------------------------------
def _local_rows(src: DataSource) -> Iterator[tuple[str, Any]]:
    path = Path(src.path).expanduser()
    name = path.name
    if not path.exists():
        raise UserError(f"{path}: no such data file")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; name a file, or give {{path: parquet, data_files: '{path}/*.parquet'}}")
    if name.endswith(".parquet"):
        yield from _parquet_rows(path)
    elif name.endswith((".csv", ".csv.gz")):
        yield from _csv_rows(path)
    elif name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz")):
        yield from _json_rows(path)
    else:
        raise UserError(f"{path}: unsupported data file (use .jsonl, .jsonl.gz, .json, .csv or .parquet)")


def _text(path: Path) -> str:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise UserError(f"{path}: not a readable gzip file: {e}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not UTF-8 text (byte {raw[e.start]:#04x} at offset {e.start})") from None


def _json_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """JSON Lines, or (as `datasets`' json builder reads a .json file) one JSON array of objects."""
    text = _text(path)
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{e.lineno}: malformed JSON: {e.msg} (column {e.colno})") from None
        for i, row in enumerate(data, 1):
            yield f"{path}: row {i}", row
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            hint = " (a .json file holds JSON Lines or one array of objects)" if path.suffix == ".json" else ""
            raise UserError(f"{path}:{lineno}: malformed JSON: {e.msg} (column {e.colno}){hint}") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}:{lineno}: expected a JSON object per line, got {type(row).__name__}")
        yield f"{path}:{lineno}", row


def _csv_rows(path: Path) -> Iterator[tuple[str, Any]]:
    import pandas as pd

    try:
        df = pd.read_csv(io.StringIO(_text(path)), keep_default_na=False, dtype=str)
    except Exception as e:  # noqa: BLE001 - pandas raises many kinds
        raise UserError(f"{path}: not a readable CSV file: {str(e).splitlines()[0]}") from None
    for i, row in enumerate(df.to_dict(orient="records")):
        yield f"{path}:{i + 2}", row  # line 1 is the header


def _parquet_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """Through pyarrow: list columns stay Python lists, structs dicts (pandas would give arrays)."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds
        raise UserError(f"{path}: not a readable Parquet file: {str(e).splitlines()[0]}") from None
    for i, row in enumerate(table.to_pylist(), 1):
        yield f"{path}: row {i}", row


# -- datasets --------------------------------------------------------------------------------------
def _dataset_rows(src: DataSource) -> Iterator[tuple[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise UserError(f"{src.label}: datasets need the `datasets` package (pip install datasets)") from None
    kwargs: dict[str, Any] = {"split": src.split, "streaming": src.streaming}
    if src.name is not None:
        kwargs["name"] = src.name
    if src.data_files is not None:
        kwargs["data_files"] = src.data_files
    try:
        ds = datasets.load_dataset(src.path, **kwargs)
    except Exception as e:  # noqa: BLE001 - datasets raises many kinds (offline, unknown split, ...)
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"{src.label}: could not load the dataset: {msg}") from None
    for i, row in enumerate(ds, 1):
        yield f"{src.label}: row {i}", row
