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


_MT_WORDS = ["<pad>", "</s>", "<unk>", *"the cat sat on a mat what is 5 plus 7 ?".split()]


def _mt_tokenizer(pad: bool = True):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(_MT_WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # without a pad token, <pad> (the decoder's start token) is still a special token, left out of the text
    special = {"pad_token": "<pad>"} if pad else {"additional_special_tokens": ["<pad>"]}
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", **special)


@pytest.fixture(scope="module")
def wordy_mt(tmp_path_factory):
    """Like tiny_mt, but its output layer never prefers <pad>/<unk> (their rows zeroed, the others
    scaled up), so greedy decoding writes words that depend on the input instead of nothing."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    folder = tmp_path_factory.mktemp("mt") / "wordy-t5"
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=len(_MT_WORDS), d_model=16, d_ff=32, d_kv=8, num_layers=1, num_heads=2, decoder_start_token_id=0,
                   pad_token_id=0, eos_token_id=1, tie_word_embeddings=False)
    model = T5ForConditionalGeneration(cfg)
    with torch.no_grad():
        model.lm_head.weight[[0, 2]] = 0.0
        model.lm_head.weight *= 20
    model.save_pretrained(folder, safe_serialization=True)
    _mt_tokenizer().save_pretrained(folder)
    return folder


def _greedy_by_hand(folder, text: str, n: int, first: str | None = None) -> str:
    """Greedy decoding written out: one full forward pass per new token (no cache, no generate), the
    first token forced to `first` if given, stopped at </s> or after n tokens; special tokens left out."""
    import torch
    from transformers import T5ForConditionalGeneration

    model = T5ForConditionalGeneration.from_pretrained(folder).eval()
    ids = torch.tensor([[_MT_WORDS.index(w) for w in text.split()]])
    dec = [0]  # decoder_start_token_id
    with torch.no_grad():
        for step in range(n):
            logits = model(input_ids=ids, decoder_input_ids=torch.tensor([dec])).logits[0, -1]
            nxt = _MT_WORDS.index(first) if step == 0 and first else int(logits.argmax())
            dec.append(nxt)
            if nxt == 1:
                break
    return " ".join(_MT_WORDS[i] for i in dec if i > 2)


_MT_TEXTS = ["the cat sat", "what is 5 plus 7 ?", "a mat", "on", "is a cat"]


def test_mt_model_translates_like_greedy_decoding_by_hand(wordy_mt):
    """Each text's translation is greedy decoding done by hand, at most max_new_tokens words, in one
    batch per text or padded together; n_translated counts every text once."""
    want = [_greedy_by_hand(wordy_mt, x, 5) for x in _MT_TEXTS]
    assert len(set(want)) >= 3 and all(len(w.split()) == 5 for w in want)  # the model writes words, up to the limit
    one = get_transform("mt_model", path=str(wordy_mt), max_new_tokens=5, batch_size=1)
    assert one.apply_many(_MT_TEXTS) == want and one.n_translated == 5
    together = get_transform("mt_model", path=str(wordy_mt), max_new_tokens=5, batch_size=3)
    assert together.apply_many(_MT_TEXTS) == want and together.n_translated == 5
    # unload frees the model; the cache answers, and a new text loads it again
    together.unload()
    assert together.apply_many(_MT_TEXTS[:2]) == want[:2] and together.n_translated == 5
    assert together.apply("the mat") == _greedy_by_hand(wordy_mt, "the mat", 5) and together.n_translated == 6


def test_mt_model_target_lang_forces_the_first_token(wordy_mt):
    forced = get_transform("mt_model", path=str(wordy_mt), max_new_tokens=4, target_lang="mat")
    want = [_greedy_by_hand(wordy_mt, x, 4, first="mat") for x in _MT_TEXTS]
    assert forced.apply_many(_MT_TEXTS) == want and all(w.startswith("mat ") for w in want)
    assert want != [_greedy_by_hand(wordy_mt, x, 4) for x in _MT_TEXTS]  # unforced, the first word differs
    unknown = get_transform("mt_model", path=str(wordy_mt), target_lang="xx_XX")
    with pytest.raises(UserError) as e:
        unknown.load()
    assert str(e.value) == f"{wordy_mt}: target_lang 'xx_XX' is not a token of this tokenizer"


def test_mt_model_pads_with_eos_when_the_tokenizer_has_no_pad_token(wordy_mt, tmp_path):
    """A tokenizer without a pad token (as some translation tokenizers ship): the batch is padded with
    EOS, masked, and each translation is what the text gets on its own."""
    import shutil

    folder = tmp_path / "no-pad"
    shutil.copytree(wordy_mt, folder)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (folder / f).unlink()
    _mt_tokenizer(pad=False).save_pretrained(folder)
    t = get_transform("mt_model", path=str(folder), max_new_tokens=4, batch_size=8)
    assert t.apply_many(_MT_TEXTS) == [_greedy_by_hand(wordy_mt, x, 4) for x in _MT_TEXTS]
    assert t._tokenizer.pad_token == "</s>"


def test_mt_model_loads_the_dtype_asked_for(tiny_mt, tmp_path):
    """fp32 (the default) and bf16 cast the weights; auto keeps the dtype they were saved in."""
    import shutil

    import torch
    from transformers import T5ForConditionalGeneration

    half = tmp_path / "bf16"
    T5ForConditionalGeneration.from_pretrained(tiny_mt, dtype=torch.bfloat16).save_pretrained(half, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_mt / f, half / f)
    for folder, options, want in [(half, {}, torch.float32), (half, {"dtype": "fp32"}, torch.float32),
                                  (half, {"dtype": "auto"}, torch.bfloat16), (tiny_mt, {"dtype": "auto"}, torch.float32),
                                  (tiny_mt, {"dtype": "bf16"}, torch.bfloat16)]:
        t = get_transform("mt_model", path=str(folder), **options)
        t.load()
        assert {p.dtype for p in t._model.parameters()} == {want}, (folder.name, options)


def test_mt_model_reads_only_model_safetensors(tiny_mt, tmp_path):
    """A folder whose safetensors file is not the model's (extra.safetensors) but which holds pickled
    weights beside it is refused when the transform is made, naming both; nothing is unpickled."""
    import shutil

    import torch
    from safetensors.torch import save_file
    from transformers import T5ForConditionalGeneration

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_mt, folder)
    (folder / "model.safetensors").unlink()
    save_file({"x": torch.zeros(2)}, folder / "extra.safetensors")
    torch.save(T5ForConditionalGeneration.from_pretrained(tiny_mt).state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(UserError) as e:
        get_transform("mt_model", path=str(folder))
    message = str(e.value)
    assert message.startswith(f"{folder}: no model.safetensors weights (found extra.safetensors: ")
    assert "found pytorch_model.bin: pickled weights are never loaded" in message and "\n" not in message


def test_mt_model_errors_name_the_folder_and_the_cause(tiny_mt, tiny_lm, tmp_path):
    import json
    import shutil

    from peft import LoraConfig, get_peft_model
    from transformers import T5ForConditionalGeneration

    adapter = tmp_path / "adapter"
    lora = LoraConfig(r=2, target_modules=["q", "v"])
    get_peft_model(T5ForConditionalGeneration.from_pretrained(tiny_mt), lora).save_pretrained(adapter)
    with pytest.raises(UserError) as e:
        get_transform("mt_model", path=str(adapter))
    assert str(e.value) == f"{adapter}: an adapter folder; mt_model needs a full translation model folder"

    unknown = tmp_path / "unknown-type"
    shutil.copytree(tiny_mt, unknown)
    cfg = json.loads((unknown / "config.json").read_text())
    (unknown / "config.json").write_text(json.dumps({**cfg, "model_type": "no-such-model"}))
    with pytest.raises(UserError) as e:
        get_transform("mt_model", path=str(unknown))
    assert str(e.value).startswith(f"{unknown}: could not read config.json: ") and "no-such-model" in str(e.value)
    assert "\n" not in str(e.value)

    no_tok = tmp_path / "bad-tokenizer"
    shutil.copytree(tiny_mt, no_tok)
    (no_tok / "tokenizer.json").unlink()
    (no_tok / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "NoSuchTokenizerFast"}))
    t = get_transform("mt_model", path=str(no_tok))
    with pytest.raises(UserError) as e:
        t.load()
    assert str(e.value).startswith(f"{no_tok}: could not load the tokenizer: ")
    assert "instantiate the backend tokenizer" in str(e.value)  # transformers' first line, not _first_line(None)
    assert "\n" not in str(e.value)

    truncated = tmp_path / "truncated-tokenizer"  # a download cut short: one line naming the file, at construction
    shutil.copytree(tiny_mt, truncated)
    (truncated / "tokenizer.json").write_text((tiny_mt / "tokenizer.json").read_text()[:100])
    with pytest.raises(UserError) as e:
        get_transform("mt_model", path=str(truncated))
    assert str(e.value).startswith(f"{truncated / 'tokenizer.json'}:") and ": malformed JSON: " in str(e.value)
    assert "\n" not in str(e.value)

    model, tok = tiny_lm  # a decoder-only model that claims to be encoder-decoder: no seq2seq class for it
    claims = tmp_path / "claims-seq2seq"
    model.save_pretrained(claims, safe_serialization=True)
    tok.save_pretrained(claims)
    cfg = json.loads((claims / "config.json").read_text())
    (claims / "config.json").write_text(json.dumps({**cfg, "is_encoder_decoder": True}))
    t = get_transform("mt_model", path=str(claims))
    with pytest.raises(UserError) as e:
        t.load()
    assert str(e.value).startswith(f"{claims}: could not load the translation model: ") and "\n" not in str(e.value)
    assert "LlamaConfig" in str(e.value)


_MARKED_CODE = """
import os

from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

with open(os.environ["MARKED_LOG"], "a") as f:
    f.write("imported\\n")


class MarkedConfig(T5Config):
    model_type = "marked-t5"


class MarkedT5(T5ForConditionalGeneration):
    config_class = MarkedConfig


class MarkedTokenizer(PreTrainedTokenizerFast):
    pass
"""


def test_mt_model_runs_a_folders_own_code_only_when_asked(tiny_mt, tmp_path, monkeypatch):
    """A folder whose config, model and tokenizer classes are its own code (auto_map): refused by
    default, without running that code; with trust_remote_code, all three of its classes are used."""
    import json
    import shutil
    import sys

    import transformers.dynamic_module_utils as dynamic

    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "modules"))  # not the user's HF cache
    monkeypatch.setattr(sys, "path", list(sys.path))
    log = tmp_path / "imported.log"
    monkeypatch.setenv("MARKED_LOG", str(log))
    folder = tmp_path / "marked_t5"
    shutil.copytree(tiny_mt, folder)
    (folder / "marked.py").write_text(_MARKED_CODE)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(model_type="marked-t5", auto_map={"AutoConfig": "marked.MarkedConfig", "AutoModelForSeq2SeqLM": "marked.MarkedT5"})
    (folder / "config.json").write_text(json.dumps(cfg))
    tok_cfg = json.loads((folder / "tokenizer_config.json").read_text())
    tok_cfg["auto_map"] = {"AutoTokenizer": [None, "marked.MarkedTokenizer"]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_cfg))

    with pytest.raises(UserError) as e:
        get_transform("mt_model", path=str(folder))
    assert str(e.value).startswith(f"{folder}: could not read config.json: ") and not log.exists()

    t = get_transform("mt_model", path=str(folder), trust_remote_code=True, max_new_tokens=3)
    t.load()
    assert (type(t._model).__name__, type(t._tokenizer).__name__) == ("MarkedT5", "MarkedTokenizer") and log.exists()
    assert t.apply("the cat sat") == get_transform("mt_model", path=str(tiny_mt), max_new_tokens=3).apply("the cat sat")


def test_mt_model_source_lang_sets_the_tokenizers_language_code(tmp_path):
    """An NLLB tokenizer puts the source language's code before the text (eng_Latn unless source_lang
    says otherwise): the translation is greedy decoding by hand of [code, ▁words..., </s>]."""
    import torch
    from transformers import NllbTokenizer, T5Config, T5ForConditionalGeneration

    letters = "abcdef"  # one-letter words: "▁a" is one token (merge "▁" + "a")
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁", *letters, *("▁" + c for c in letters), "eng_Latn", "fra_Latn"]
    vocab = {w: i for i, w in enumerate(pieces)}
    folder = tmp_path / "tiny-nllb"
    codes = ["eng_Latn", "fra_Latn"]
    NllbTokenizer(vocab=vocab, merges=[("▁", c) for c in letters], extra_special_tokens=codes).save_pretrained(folder)
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=len(vocab), d_model=16, d_ff=32, d_kv=8, num_layers=1, num_heads=2, decoder_start_token_id=1,
                   pad_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    model = T5ForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight *= 20
        model.lm_head.weight[[i for i, w in enumerate(pieces) if not w.startswith("▁") or w == "▁"]] = 0.0  # writes ▁words
        # the two codes read as opposite words, so that the code weighs on the translation
        model.shared.weight[vocab["eng_Latn"]] = 3 * model.shared.weight[vocab["▁a"]]
        model.shared.weight[vocab["fra_Latn"]] = -3 * model.shared.weight[vocab["▁a"]]
    model.save_pretrained(folder, safe_serialization=True)

    def by_hand(code: str, text: str) -> str:
        ids = torch.tensor([[vocab[code], *(vocab["▁" + w] for w in text.split()), vocab["</s>"]]])
        dec = [1]
        with torch.no_grad():
            for _ in range(4):
                dec.append(int(model(input_ids=ids, decoder_input_ids=torch.tensor([dec])).logits[0, -1].argmax()))
        kept = [pieces[i] for i in dec if pieces[i] not in ("<s>", "<pad>", "</s>", "<unk>", *codes)]  # special tokens skipped
        return "".join(kept).replace("▁", " ").strip()

    texts = ["a b c", "d e", "f a b", "c", "e e d"]
    english, french = ([by_hand(code, x) for x in texts] for code in ("eng_Latn", "fra_Latn"))
    assert english != french  # the code changes the translation, so the test can tell them apart
    assert get_transform("mt_model", path=str(folder), max_new_tokens=4).apply_many(texts) == english
    assert get_transform("mt_model", path=str(folder), max_new_tokens=4, source_lang="fra_Latn").apply_many(texts) == french


def test_mt_model_first_line_of_an_error():
    from forgetscope.transforms.mt_model import _first_line

    assert _first_line(ValueError("  first line\nsecond line")) == "first line"
    assert _first_line(OSError("only line ")) == "only line"
    assert _first_line(KeyError()) == "KeyError" and _first_line(ValueError(" \n ")) == "ValueError"


def test_mt_model_options_bounds_and_messages(tiny_mt):
    """Each option's bounds are inclusive; a bool, a string or a float is not an integer; the whole
    message names the option, its range and the value."""
    t = get_transform("mt_model", path=str(tiny_mt), num_beams=64, batch_size=65_536, max_new_tokens=4096, dtype="auto")
    assert (t.num_beams, t.batch_size, t.max_new_tokens, t.dtype) == (64, 65_536, 4096, "auto")
    cases = [({"num_beams": 65}, "option 'num_beams' must be an integer in 1..64, got 65"),
             ({"num_beams": "2"}, "option 'num_beams' must be an integer in 1..64, got '2'"),
             ({"num_beams": 2.0}, "option 'num_beams' must be an integer in 1..64, got 2.0"),
             ({"batch_size": True}, "option 'batch_size' must be an integer in 1..65536, got True"),
             ({"max_new_tokens": 4097}, "option 'max_new_tokens' must be an integer in 1..4096, got 4097"),
             ({"max_new_tokens": 0}, "option 'max_new_tokens' must be an integer in 1..4096, got 0"),
             ({"dtype": "fp64"}, "option 'dtype' must be one of fp32, bf16, fp16, auto, got 'fp64'")]
    for options, message in cases:
        with pytest.raises(UserError) as e:
            get_transform("mt_model", path=str(tiny_mt), **options)
        assert str(e.value) == f"transform 'mt_model': {message}", options


def test_mt_model_describes_its_decoding(tiny_mt):
    """describe() states the defaults (greedy, 256 new tokens, batches of 16, no prefix, no target
    token) and each option given."""
    tail = ("Each distinct text is translated once and cached, so a text repeated across prompts always gets the same "
            "translation.")
    plain = get_transform("mt_model", path=str(tiny_mt)).describe()
    assert plain.startswith(f"mt_model: the text is translated by the local sequence-to-sequence model in {tiny_mt}, "
                            f"greedy decoding, at most 256 new tokens, in batches of 16. {tail}")
    assert plain.endswith(" Not invertible.")
    beams = get_transform("mt_model", path=str(tiny_mt), num_beams=2, batch_size=3, max_new_tokens=7, prefix=">>fra<< ",
                          target_lang="cat").describe()
    assert beams.startswith(f"mt_model: the text is translated by the local sequence-to-sequence model in {tiny_mt}, "
                            "beam search with 2 beams, at most 7 new tokens, in batches of 3, each input prefixed with "
                            f"'>>fra<< ', target language token 'cat'. {tail}")


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
