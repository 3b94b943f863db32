"""Transforms on known input/output pairs; lookup by name with one-line errors; the model-backed
transform on a tiny random seq2seq model built here (nothing downloaded)."""

import pytest

from forgetscope.errors import UserError
from forgetscope.transforms import TRANSFORMS, get_transform


@pytest.mark.parametrize(("text", "want"), [
    ("Capitalize every character.", "C4p174l1z3 3v3ry ch4r4c73r."),
    ("What is 5 plus 7?", "Wh47 15 5 plu5 7?"),
    ("HELLO", "H3LL0"),
    ("TEA time", "734 71m3"),
    ("xyz 42 ,;", "xyz 42 ,;"),
])
def test_leetspeak_pairs(text, want):
    t = get_transform("leetspeak")
    assert t.apply(text) == want
    assert t.expected("HELLO") == "H3LL0"


def test_leetspeak_invert_is_exact_on_lower_case_text():
    t = get_transform("leetspeak")
    assert t.invert(t.apply("the cat sat on a mat")) == "the cat sat on a mat"
    assert t.invert(t.apply("Tea 4")) == "tea a"  # case and original digits are lost, as documented


@pytest.mark.parametrize(("text", "want"), [
    ("pig", "igpay"), ("apple", "appleway"), ("string", "ingstray"), ("yellow", "ellowyay"), ("rhythm", "ythmrhay"),
    ("hmm", "hmmay"), ("y", "yay"), ("queen", "ueenqay"), ("CAPS", "APSCAY"), ("Hello", "Ellohay"), ("I", "Iway"),
    ("iPhone", "iPhoneway"), ("Hello, world!", "Ellohay, orldway!"), ("don't", "onday'tay"), ("x2", "xay2"),
    ("What is 5 plus 7?", "Atwhay isway 5 usplay 7?"), ("café", "afcayé"),
    ("my", "ymay"), ("by", "ybay"),  # y after the first letter is a vowel
    ("bXa", "abXay"),  # only y/Y is the extra vowel, not other letters
    ("HeLLo", "eLLoHay"), ("HEllo", "ElloHay"),  # neither capitalised nor all caps: each letter keeps its case
    ("X", "Xay"), ("A", "Away"), ("Y", "Yay"),
])
def test_pig_latin_pairs(text, want):
    assert get_transform("piglatin").apply(text) == want


def test_pattern_answer_commutes_with_capitalising():
    """The ICL suite capitalises the transformed query; for the character/word transforms that equals
    transforming the capitalised query (what the paper's fully transformed prompt expects)."""
    for name in ("leetspeak", "piglatin", "identity"):
        t = get_transform(name)
        for text in ("What is 12 plus 16?", "Fill in the blank: ___ sends letters to Peru.", "iPhone dont"):
            assert t.apply(text).upper() == t.apply(text.upper()), (name, text)
    # One-letter words differ in case only ("x" -> "XAY" vs "X" -> "Xay"): the starts_with rule ignores case.
    assert get_transform("piglatin").apply("x").upper().lower() == get_transform("piglatin").apply("X").lower()


def test_identity_and_descriptions():
    t = get_transform("identity")
    assert t.apply("  Any text? ") == "  Any text? " and t.invert("x") == "x"
    for name in ("identity", "leetspeak", "piglatin"):
        assert get_transform(name).describe().startswith(name)


def test_world_l2_maps_words_and_inverts():
    t = get_transform("world_l2", lexicon={"what": "ka", "is": "bo", "?": "？"})
    assert t.apply("what is 4 ?") == "ka bo 4 ？"
    assert t.invert("ka bo 4 ？") == "what is 4 ?"
    assert t.expected("what") == "ka"


def test_world_l2_reads_a_world_folder(tmp_path, tiny_world):
    from forgetscope.world.build import write_world

    write_world(tiny_world, tmp_path)
    t = get_transform("world_l2", world=str(tmp_path))
    assert t.apply("sorry") == tiny_world.l2["sorry"]
    assert get_transform("world_l2", world=str(tmp_path / "world.json")).lexicon == t.lexicon  # the file itself
    with pytest.raises(UserError, match="not a fact-world folder"):
        get_transform("world_l2", world=str(tmp_path / "nope"))
    with pytest.raises(UserError, match="not a bijection"):
        get_transform("world_l2", lexicon={"a": "x", "b": "x"})


def _error(fn) -> str:
    with pytest.raises(UserError) as e:
        fn()
    return str(e.value)


def test_world_l2_errors_word_for_word(tmp_path):
    assert _error(lambda: get_transform("world_l2")) == \
        "transform 'world_l2': give exactly one of 'world' (a world folder) and 'lexicon'"
    assert _error(lambda: get_transform("world_l2", world="w", lexicon={})) == \
        "transform 'world_l2': give exactly one of 'world' (a world folder) and 'lexicon'"
    bad = tmp_path / "bad.json"
    bad.write_text('{"l2_lexicon": {"a": "b",}}', encoding="utf-8")
    assert _error(lambda: get_transform("world_l2", world=str(bad))) == f"{bad}:1: malformed JSON: Expecting property name enclosed in double quotes"
    for content in ('["a"]', '{"l2_lexicon": ["a"]}', '{"other": {}}'):
        bad.write_text(content, encoding="utf-8")
        assert _error(lambda: get_transform("world_l2", world=str(bad))) == \
            f"{bad}: no 'l2_lexicon' mapping (not a world.json that forgetscope wrote?)"
    bad.write_text('{"l2_lexicon": {"café": "kafe", "a": 3}}', encoding="utf-8")
    assert _error(lambda: get_transform("world_l2", world=str(bad))) == f"{bad}: l2_lexicon: entries must map a word to a word, got 'a': 3"
    assert _error(lambda: get_transform("world_l2", lexicon={"a": "x", "b": "x"})) == \
        "transform 'world_l2': lexicon: not a bijection, 'a' and 'b' both map to 'x'"
    bad.write_text('{"l2_lexicon": {"café": "kafé"}}', encoding="utf-8")
    assert get_transform("world_l2", world=str(bad)).apply("un café") == "un kafé"  # read as UTF-8


def test_non_invertible_transforms_say_so():
    with pytest.raises(NotImplementedError) as e:
        get_transform("piglatin").invert("igpay")
    assert str(e.value) == "transform 'piglatin' is not invertible"


def test_parallel_selects_columns_and_refuses_free_text():
    t = get_transform("parallel", language="fr")
    assert t.label == "parallel:fr" and t.reads_dataset and not t.wordwise
    assert t.select({"id": 1, "en": "cat", "fr": "chat"}) == "chat"
    assert t.select({"id": 1, "prompt": {"en": "cat", "fr": "chat"}}, "prompt") == "chat"
    assert "'fr'" in t.describe() and t.describe().startswith("parallel: the prompt in language 'fr' is read")
    with pytest.raises(UserError, match="cannot translate free text"):
        t.apply("cat")
    with pytest.raises(UserError, match=r"^transform 'parallel' \(language 'fr'\) reads expected answers from the dataset"):
        t.expected("cat")


@pytest.mark.parametrize(("row", "field", "where", "message"), [
    ({"id": 2, "en": "cat"}, None, "", "row 2: no column in language 'fr' (languages there: en)"),
    ({"id": 2, "en": "cat", "n": 3}, None, "s.jsonl:4", "s.jsonl:4: row 2: no column in language 'fr' (languages there: en)"),
    ({"id": "a"}, None, "", "row 'a': no column in language 'fr' (languages there: none)"),
    ({"en": "cat"}, None, "", "row without 'id': no column in language 'fr' (languages there: en)"),
    ({"id": 2, "fr": 7}, None, "", "row 2: the column in language 'fr' is not a string"),
    ({"id": 2}, "prompt", "", "row 2: no field 'prompt'"),
    ({"id": 2, "prompt": "cat"}, "prompt", "", "row 2: field 'prompt' is one text, not one per language "
                                              "({\"en\": ..., 'fr': ...}), so it cannot be read in 'fr'"),
    ({"id": 2, "prompt": {"en": "cat", "id": "x"}}, "prompt", "", "row 2: no 'prompt' text in language 'fr' (languages there: en)"),
    ({"id": 2, "prompt": {"fr": None}}, "prompt", "", "row 2: the 'prompt' text in language 'fr' is not a string"),
])
def test_parallel_errors_name_the_row(row, field, where, message):
    t = get_transform("parallel", language="fr")
    with pytest.raises(UserError) as e:
        t.select(row, field, where=where)
    assert str(e.value) == message
    if not where:  # where="" is the default
        with pytest.raises(UserError) as e:
            t.select(row, field)
        assert str(e.value) == message


def test_parallel_lists_every_language_a_row_has():
    with pytest.raises(UserError) as e:
        get_transform("parallel", language="fr").select({"id": 5, "en": "cat", "de": "Katze"})
    assert str(e.value) == "row 5: no column in language 'fr' (languages there: en, de)"


@pytest.mark.parametrize("bad", ["", "  ", 3, None])
def test_parallel_needs_a_language_name(bad):
    with pytest.raises(UserError) as e:
        get_transform("parallel", language=bad)
    assert str(e.value) == f"transform 'parallel': option 'language' must be a column name such as 'fr', got {bad!r}"


def test_lookup_errors_are_one_line():
    with pytest.raises(UserError, match="unknown transform 'klingon' .one of: identity"):
        get_transform("klingon")
    with pytest.raises(UserError, match="needs option 'language'"):
        get_transform("parallel")
    with pytest.raises(UserError, match="has no option 'colour'"):
        get_transform("leetspeak", colour="red")
    assert set(TRANSFORMS.names()) == {"identity", "leetspeak", "piglatin", "parallel", "mt_model", "world_l2"}


@pytest.fixture(scope="module")
def tiny_mt(tmp_path_factory):
    """A 1-layer random T5 with a word-level tokenizer: a translation model folder, nothing downloaded."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        T5Config,
        T5ForConditionalGeneration,
    )

    folder = tmp_path_factory.mktemp("mt") / "tiny-t5"
    words = ["<pad>", "</s>", "<unk>", *"the cat sat on a mat what is 5 plus 7 ?".split()]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=len(words), d_model=16, d_ff=32, d_kv=8, num_layers=1, num_heads=2, decoder_start_token_id=0,
                   pad_token_id=0, eos_token_id=1)
    T5ForConditionalGeneration(cfg).save_pretrained(folder, safe_serialization=True)
    hf.save_pretrained(folder)
    return folder


def test_mt_model_translates_batches_and_caches(tiny_mt):
    t = get_transform("mt_model", path=str(tiny_mt), max_new_tokens=4, batch_size=2)
    assert t.label == "mt_model:tiny-t5" and not t.wordwise
    out = t.apply_many(["the cat sat", "what is 5 plus 7 ?", "the cat sat", ""])
    assert all(isinstance(o, str) for o in out) and out[0] == out[2] and out[3] == ""
    assert t.n_translated == 2  # each distinct non-empty text once
    assert t.apply("the cat sat") == out[0] and t.n_translated == 2
    assert get_transform("mt_model", path=str(tiny_mt), max_new_tokens=4).apply("the cat sat") == out[0]  # deterministic


def test_mt_model_folder_errors(tmp_path, tiny_mt, tiny_lm):
    import shutil

    with pytest.raises(UserError, match="no such model folder"):
        get_transform("mt_model", path=str(tmp_path / "none"))
    bare = tmp_path / "bare"
    shutil.copytree(tiny_mt, bare)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (bare / f).unlink(missing_ok=True)
    with pytest.raises(UserError, match="without a tokenizer"):
        get_transform("mt_model", path=str(bare))
    model, tok = tiny_lm
    causal = tmp_path / "causal"
    model.save_pretrained(causal, safe_serialization=True)
    tok.save_pretrained(causal)
    with pytest.raises(UserError, match="not a sequence-to-sequence translation model"):
        get_transform("mt_model", path=str(causal))
    with pytest.raises(UserError, match="must be an integer in 1..65536, got 0"):
        get_transform("mt_model", path=str(tiny_mt), batch_size=0)


def test_docs_state_the_same_rules():
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "transforms.md").read_text()
    for name in ("identity", "leetspeak", "piglatin"):
        assert get_transform(name).describe() in doc, name


def test_icl_suite_under_a_model_translation(tiny_mt):
    """A transform that is not word by word: every part is translated once, the expected answer is the
    task applied to the translated query."""
    from forgetscope.suites.icl_if import IclIfConfig, IclIfSuite

    t = get_transform("mt_model", path=str(tiny_mt), max_new_tokens=3)
    items = IclIfSuite(IclIfConfig(per_task=1), seed=0).items(t)
    assert len(items) == 4 and all(it.id.startswith("icl_if/mt_model:tiny-t5/") for it in items)
    for it in items:
        query = it.prompt.split("\n")[-2].split(": ", 1)[1] if ": " in it.prompt.split("\n")[-2] else ""
        want = query.upper() if it.meta["task"].startswith("capitalize") else query
        assert it.answer == want


def test_transform_option_errors_name_the_options():
    """An unknown or a missing option: one line naming the transform, the option and every option
    the transform takes (comma-separated; "none" for a transform without options)."""
    cases = [(("identity",), {"language": "fr"}, "transform 'identity' has no option 'language' (options: none)"),
             (("parallel",), {"lang": "fr"}, "transform 'parallel' has no option 'lang' (options: language)"),
             (("parallel",), {}, "transform 'parallel' needs option 'language' (options: language)"),
             (("world_l2",), {"bogus": 1}, "transform 'world_l2' has no option 'bogus' (options: world, lexicon)")]
    for args, options, message in cases:
        with pytest.raises(UserError) as e:
            get_transform(*args, **options)
        assert str(e.value) == message
