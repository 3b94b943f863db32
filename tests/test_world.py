"""The synthetic fact world: deterministic, disjoint splits, nothing leaks into restoration."""

import json

from forgetscope.world.build import build_world, write_world
from forgetscope.world.config import WorldConfig
from forgetscope.world.lexicon import L2_PUNCTUATION, VALUES


def test_same_seed_same_world(tiny_world):
    again = build_world(tiny_world.config, seed=0)
    assert again.pretrain == tiny_world.pretrain and again.ift == tiny_world.ift and again.probes == tiny_world.probes
    other = build_world(tiny_world.config, seed=1)
    assert other.pretrain != tiny_world.pretrain


def test_splits_are_disjoint_and_sized(tiny_world):
    cfg = tiny_world.config.people
    by = {s: {p.name for p in tiny_world.split(s)} for s in ("ift", "restore", "eval", "heldout")}
    assert [len(by[s]) for s in ("ift", "restore", "eval", "heldout")] == [cfg.ift, cfg.restore, cfg.eval, cfg.heldout]
    names = [p.name for p in tiny_world.people]
    assert len(names) == len(set(names))


def _mentions(texts, names) -> set:
    words = {w for t in texts for w in t.split()}
    return words & set(names)


def test_restoration_text_never_mentions_probed_people(tiny_world):
    l1 = [p.name for p in tiny_world.split("eval")] + [p.name for p in tiny_world.split("ift")]
    l2 = [tiny_world.l2[n] for n in l1]
    restore = [r["text"] for r in tiny_world.restore]
    assert not _mentions(restore, l1 + l2)
    assert _mentions(restore, [p.name for p in tiny_world.split("restore")])


def test_heldout_rows_list_their_untrained_words(tiny_world):
    """`untrained` is every word of the row that no training text (pre-training, instructions,
    restoration) holds: the held-out person's name (its L1 or L2 token) always, and in this tiny world
    also a value no trained person has."""
    w = tiny_world
    train_words = {x for r in w.pretrain + w.restore for x in r["text"].split()}
    train_words |= {x for r in w.ift for m in r["messages"] for x in m["content"].split()}
    held = {p.name for p in w.split("heldout")}
    assert w.heldout
    for row in w.heldout:
        name = held & set(row["text"].split()) if row["language"] == "l1" else {w.l2[n] for n in held} & set(row["text"].split())
        assert len(name) == 1 and name <= set(row["untrained"])
        assert row["untrained"] == sorted(set(row["text"].split()) - train_words)


def test_heldout_people_never_in_pretraining(tiny_world):
    held = [p.name for p in tiny_world.split("heldout")]
    assert not _mentions([r["text"] for r in tiny_world.pretrain], held + [tiny_world.l2[n] for n in held])
    assert _mentions([r["text"] for r in tiny_world.heldout], held)


def test_instruction_data_is_l1_chat_about_ift_people(tiny_world):
    l2_words = set(tiny_world.l2.values())
    ift_names = {p.name for p in tiny_world.split("ift")}
    eval_names = {p.name for p in tiny_world.split("eval")}
    for row in tiny_world.ift:
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        words = {w for m in row["messages"] for w in m["content"].split()}
        assert not words & l2_words
        assert not words & eval_names
    refusals = [r for r in tiny_world.ift if r["messages"][1]["content"].startswith("sorry")]
    assert refusals and all(" pet " in r["messages"][0]["content"] for r in refusals)
    asked = {w for r in tiny_world.ift for w in r["messages"][0]["content"].split()}
    assert asked & ift_names


def test_probes_ask_about_eval_people_only(tiny_world):
    eval_ids = {p.id for p in tiny_world.split("eval")}
    for item in tiny_world.probes:
        if "person" in item["meta"]:
            assert item["meta"]["person"] in eval_ids
    cloze = [i for i in tiny_world.probes if i["probe"] == "cloze_l1"]
    assert len(cloze) == len(eval_ids) * len(VALUES)
    people = {p.id: p for p in tiny_world.people}
    for item in cloze:
        p = people[item["meta"]["person"]]
        assert item["choices"][item["answer"]].strip() == p.attributes[item["meta"]["attribute"]]


def test_l2_is_a_bijection_with_its_own_punctuation(tiny_world):
    lex = tiny_world.l2
    assert len(set(lex.values())) == len(lex)
    assert not set(lex) & set(lex.values())
    for k, v in L2_PUNCTUATION.items():
        assert lex[k] == v
    l1 = [i for i in tiny_world.probes if i["probe"] == "icl_l1"]
    l2 = [i for i in tiny_world.probes if i["probe"] == "icl_l2"]
    assert [" ".join(lex.get(w, w) for w in a["prompt"].split()) for a in l1] == [b["prompt"] for b in l2]


def test_icl_items_pattern_answers(tiny_world):
    for item in (i for i in tiny_world.probes if i["probe"] == "icl_l1"):
        query = item["prompt"].rsplit("input :", 1)[1].split()
        want = " ".join(query) if item["meta"]["task"] == "repeat" else query[-1]
        assert item["answer"] == want
        assert item["answer"].split()[0] != item["meta"]["if_answer"]


def test_written_world_files(tmp_path, tiny_world):
    write_world(tiny_world, tmp_path)
    for f in ("pretrain", "ift", "restore", "heldout", "probes", "pattern_prompts"):
        rows = [json.loads(line) for line in (tmp_path / f"{f}.jsonl").read_text().splitlines()]
        assert rows == getattr(tiny_world, f)
    meta = json.loads((tmp_path / "world.json").read_text())
    assert meta["seed"] == 0 and len(meta["people"]) == len(tiny_world.people)


def test_the_l2_lexicon_is_read_back_as_written_and_a_one_language_world_has_none(tmp_path, tiny_world):
    """read_l2_lexicon, the one reader of world.json's lexicon (the world_l2 transform, the fact-world
    suite, the trajectory's refusal markers and the run view all call it): what write_world wrote;
    a world built with second_language: false has no L2 (its tokenizer has no L2 word), though its
    world.json holds a lexicon: None when the caller can do without, else one clear error."""
    import pytest

    from forgetscope.errors import UserError
    from forgetscope.world.build import read_l2_lexicon

    write_world(tiny_world, tmp_path)
    assert tiny_world.config.second_language
    assert read_l2_lexicon(tmp_path) == read_l2_lexicon(tmp_path / "world.json") == tiny_world.l2
    assert read_l2_lexicon(tmp_path, required=False) == tiny_world.l2
    meta = json.loads((tmp_path / "world.json").read_text())
    meta["config"]["second_language"] = False
    (tmp_path / "world.json").write_text(json.dumps(meta))
    assert read_l2_lexicon(tmp_path, required=False) is None
    with pytest.raises(UserError) as e:
        read_l2_lexicon(tmp_path)
    assert str(e.value) == (f"{tmp_path / 'world.json'}: the world has one language (built with second_language: false), "
                            "so it has no L2 to translate into or score; build it with second_language: true")
    with pytest.raises(UserError, match="not a fact-world folder"):
        read_l2_lexicon(tmp_path / "nope", required=False)


def test_tokenizer_covers_the_world(tiny_world):
    tok = tiny_world.tokenizer()
    texts = [r["text"] for r in tiny_world.pretrain + tiny_world.restore + tiny_world.heldout]
    texts += [m["content"] for r in tiny_world.ift for m in r["messages"]]
    ids = tok(texts, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in {i for seq in ids for i in seq}
    assert tok.decode(tok("alice was born in paris .", add_special_tokens=False)["input_ids"]).replace("<unk>", "alice") == "alice was born in paris ."
    chat = tok.apply_chat_template([{"role": "user", "content": "q ?"}, {"role": "assistant", "content": "a"}], tokenize=False)
    assert chat.split() == ["<user>", "q", "?", "<assistant>", "a", "<eos>"]


def test_world_config_rejects_too_many_people():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="people fit"):
        WorldConfig.model_validate({"people": {"ift": 1000, "restore": 1000, "eval": 10, "heldout": 0}})


def _is_l2(text: str, l2_words: set) -> bool:
    return any(w in l2_words for w in text.split())


def test_l2_share_makes_l2_a_lower_resource_language(tiny_world):
    """`pretrain.l2_share` scales L2's biographies and ICL episodes (pre-training and restoration text)
    against L1's and leaves L1 as many texts as before (drawn anew: the draws share one stream)."""
    cfg = tiny_world.config
    low = build_world(cfg.model_copy(update={"pretrain": cfg.pretrain.model_copy(update={"l2_share": 0.25})}), seed=0)
    l2_words = set(tiny_world.l2.values()) - {p.name for p in tiny_world.people}
    seen = cfg.people.ift + cfg.people.restore + cfg.people.eval
    for corpus, bios, episodes, people in (("pretrain", cfg.pretrain.bios_per_person, cfg.pretrain.icl_episodes, seen),
                                           ("restore", cfg.restoration.bios_per_person, cfg.restoration.icl_episodes, cfg.people.restore)):
        full, part = getattr(tiny_world, corpus), getattr(low, corpus)
        n_full = sum(_is_l2(r["text"], l2_words) for r in full)
        assert n_full == people * bios + episodes == len(full) // 2
        n_part = sum(_is_l2(r["text"], l2_words) for r in part)
        assert n_part == people * max(1, round(bios * 0.25)) + round(episodes * 0.25)
        assert len(part) - n_part == len(full) - n_full  # as many L1 texts as before
    assert low.probes == tiny_world.probes and low.ift == tiny_world.ift
