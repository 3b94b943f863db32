"""Every data source reads through one spec: local JSON Lines (.gz), .json arrays, CSV, Parquet (with
`messages` rows), and `datasets` sources with name / split / data_files / streaming / max_rows. The rows
equal what `datasets` itself gives for the same file (an independent reader); errors name file:line."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forgetscope.data import DataSource, load_rows, sft_segments
from forgetscope.errors import UserError

CHATS = [
    {"messages": [{"role": "user", "content": "Write 3 March 1998 as ISO."}, {"role": "assistant", "content": "1998-03-03"}]},
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi."},
                  {"role": "assistant", "content": "hi"}, {"role": "user", "content": "Again."}, {"role": "assistant", "content": "hi!"}]},
]
TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</s>{% endfor %}"
            "{% if add_generation_prompt %}<assistant>{% endif %}")


def datasets_rows(fmt: str, path) -> list[dict]:
    import datasets

    return list(datasets.load_dataset(fmt, data_files=str(path), split="train"))


def test_parquet_messages_load_as_lists_of_dicts(tmp_path):
    path = tmp_path / "chats.parquet"
    pq.write_table(pa.Table.from_pylist(CHATS), path)
    rows = load_rows(str(path))
    assert rows[1]["messages"][3] == {"role": "user", "content": "Again."}
    assert isinstance(rows[0]["messages"], list)
    assert rows == datasets_rows("parquet", path)


def test_a_json_array_file_loads(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"text": "one"}, {"text": "two"}]))
    assert load_rows(str(path)) == [{"text": "one"}, {"text": "two"}] == datasets_rows("json", path)


def test_jsonl_gz_and_csv_load(tmp_path):
    gz = tmp_path / "rows.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": "d"}\n'))
    assert load_rows(str(gz)) == [{"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": "d"}] == datasets_rows("json", gz)
    csv = tmp_path / "rows.csv"
    csv.write_text("prompt,completion\nQ: 1+1?,2\n\"a, b\",c\n")
    assert load_rows(str(csv)) == [{"prompt": "Q: 1+1?", "completion": "2"}, {"prompt": "a, b", "completion": "c"}]


def test_a_datasets_source_takes_split_slicing_and_max_rows(tmp_path):
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train.write_text("".join(json.dumps({"text": f"train {i}"}) + "\n" for i in range(5)))
    test.write_text("".join(json.dumps({"text": f"test {i}"}) + "\n" for i in range(5)))
    files = {"train": str(train), "test": str(test)}
    assert load_rows(DataSource(path="json", data_files=files, split="test[1:3]")) == [{"text": "test 1"}, {"text": "test 2"}]
    assert load_rows(DataSource(path="json", data_files=files, split="train", max_rows=2)) == [{"text": "train 0"}, {"text": "train 1"}]
    streamed = load_rows(DataSource(path="json", data_files=files, split="test", streaming=True, max_rows=3))
    assert streamed == [{"text": f"test {i}"} for i in range(3)]
    assert load_rows(DataSource(path=str(train), max_rows=1)) == [{"text": "train 0"}]


def test_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"text": "b",}\n')
    with pytest.raises(UserError, match=r"bad.jsonl:2: malformed JSON"):
        load_rows(str(bad))
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"text": "a"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(UserError, match=r"latin.jsonl:2: not UTF-8"):
        load_rows(str(latin))
    with pytest.raises(UserError, match="no such data file"):
        load_rows(str(tmp_path / "missing.parquet"))
    with pytest.raises(UserError, match="could not load the dataset"):
        load_rows(DataSource(path="json", data_files=str(tmp_path / "nothing-*.jsonl")))


class _Tok:
    chat_template = TEMPLATE

    def apply_chat_template(self, msgs, tokenize=False, add_generation_prompt=False):
        import jinja2

        return jinja2.Template(TEMPLATE).render(messages=msgs, add_generation_prompt=add_generation_prompt)


def test_chat_loss_modes():
    """completion: the last assistant turn; assistant: every assistant turn; all: every token.
    Concatenated, the segments are the rendered chat in every mode."""
    tok = _Tok()
    full = tok.apply_chat_template(CHATS[1]["messages"])
    for loss in ("completion", "assistant", "all"):
        segs = sft_segments(CHATS[1:], tok, "f", loss)[0]
        assert "".join(t for t, _ in segs) == full
        trained = [t for t, on in segs if on]
        if loss == "completion":
            assert trained == ["hi!</s>"]
        elif loss == "assistant":
            assert trained == ["hi</s>", "hi!</s>"]
        else:
            assert trained == [full]
