"""TRL data formats: text, prompt/completion (strings or conversational), messages."""

import pytest

from forgetscope.data import detect_format, lm_texts, read_jsonl, sft_pairs
from forgetscope.errors import UserError


def test_formats_detected_and_pairs_built(tiny_world):
    tok = tiny_world.tokenizer()
    rows = [{"prompt": "what is 4 plus 5 ?", "completion": " 9"}]
    assert detect_format(rows, "x") == "prompt_completion"
    assert sft_pairs(rows, tok, "x") == [("what is 4 plus 5 ?", " 9")]
    conv = [{"prompt": [{"role": "user", "content": "what is 4 plus 5 ?"}], "completion": [{"role": "assistant", "content": "9"}]}]
    msgs = [{"messages": [{"role": "user", "content": "what is 4 plus 5 ?"}, {"role": "assistant", "content": "9"}]}]
    assert sft_pairs(conv, tok, "x") == sft_pairs(msgs, tok, "x") == [("<user> what is 4 plus 5 ? <assistant>", " 9 <eos> ")]
    assert lm_texts([{"text": "a"}], "x") == ["a"]


def test_format_errors_name_file_and_line(tmp_path, tiny_world):
    tok = tiny_world.tokenizer()
    with pytest.raises(UserError, match=r"f:2: missing field 'completion'"):
        detect_format([{"prompt": "a", "completion": "b"}, {"prompt": "a"}], "f")
    with pytest.raises(UserError, match="SFT needs"):
        sft_pairs([{"text": "a"}], tok, "f")
    with pytest.raises(UserError, match="last message must be the assistant"):
        sft_pairs([{"messages": [{"role": "user", "content": "q"}]}], tok, "f")
    with pytest.raises(UserError, match="needs the 'text' format"):
        lm_texts([{"prompt": "a", "completion": "b"}], "f")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n[1, 2]\n')
    with pytest.raises(UserError, match=r"bad.jsonl:2: expected a JSON object"):
        read_jsonl(bad)
    with pytest.raises(UserError, match="no such data file"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_message_errors_say_what_is_accepted_and_name_the_role():
    """A prompt may be a string, so its error says so; a role the chat template would drop is named."""
    with pytest.raises(UserError, match=r"f:1: field 'prompt': must be a string or a non-empty list of messages, got int"):
        detect_format([{"prompt": 3, "completion": "b"}], "f")
    with pytest.raises(UserError, match=r"field 'messages': must be a non-empty list of messages, got an empty list"):
        detect_format([{"messages": []}], "f")
    chat = [{"role": "user", "content": "q"}, {"role": "bot", "content": "a"}]
    with pytest.raises(UserError, match=r"f:1: field 'messages': message 1: unknown role 'bot' \(one of: system, user, assistant, tool\)"):
        detect_format([{"messages": chat}], "f")
