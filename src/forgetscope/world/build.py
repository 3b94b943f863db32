"""Generate a whole fact world from (config, seed) and write it as plain files.

Written files (all in TRL's data formats, so the same training code reads user data):
    world.json          people, attributes, splits, the L2 lexicon
    pretrain.jsonl      {"text"}: biographies of every non-held-out person in L1 and L2, ICL episodes
    ift.jsonl           {"messages"}: the instruction data (L1)
    restore.jsonl       {"text"}: biographies of restoration people and ICL episodes about them only
    heldout.jsonl       {"text", "language", "untrained"}: biographies of held-out people (never trained
                        on): bits/byte over the tokens of words some training text contains
                        (`untrained`: the other words, the held-out person's name)
    probes.jsonl        probe items about evaluation people (evaluation/items.py)
    pattern_prompts.jsonl  {"messages"} (chat) and {"text"} (plain) prompts for the pattern-shift metrics
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from forgetscope.errors import UserError
from forgetscope.store import atomic_write_json, atomic_write_text
from forgetscope.world.config import WorldConfig
from forgetscope.world.corpus import (
    QueryMaker,
    biography,
    instruction_examples,
    pretrain_episode,
)
from forgetscope.world.lexicon import l1_words, make_l2_lexicon
from forgetscope.world.people import Person, make_people
from forgetscope.world.probes import (
    cloze_items,
    icl_items,
    pattern_prompts,
    private_items,
    qa_items,
)


@dataclass
class World:
    config: WorldConfig
    seed: int
    people: list[Person]
    l2: dict[str, str]
    pretrain: list[dict]
    ift: list[dict]
    restore: list[dict]
    heldout: list[dict]
    probes: list[dict]
    pattern_prompts: list[dict]

    def split(self, name: str) -> list[Person]:
        return [p for p in self.people if p.split == name]

    def tokenizer(self):
        from forgetscope.world.tokenizer import build_tokenizer

        return build_tokenizer([p.name for p in self.people], self.l2 if self.config.second_language else None)


def build_world(cfg: WorldConfig, seed: int) -> World:
    def rng(name: str) -> random.Random:  # an independent stream per part: changing one part keeps the rest
        return random.Random(f"{seed}-{name}")

    people = make_people(cfg.people, rng("people"), one_token_names=cfg.one_token_names)
    l2 = make_l2_lexicon(seed, l1_words([p.name for p in people]))
    langs = {"l1": None, "l2": l2} if cfg.second_language else {"l1": None}
    by_split = {s: [p for p in people if p.split == s] for s in ("ift", "restore", "eval", "heldout")}
    seen = [p for p in people if p.split != "heldout"]

    pretrain = lm_texts(seen, langs, cfg, cfg.pretrain.bios_per_person, cfg.pretrain.icl_episodes, rng("pretrain"))
    restore = lm_texts(by_split["restore"], langs, cfg, cfg.restoration.bios_per_person, cfg.restoration.icl_episodes, rng("restore"))
    r = rng("heldout")
    heldout = [{"text": biography(p, r, cfg.templates_per_attribute, lex), "language": lang} for p in by_split["heldout"] for lang, lex in langs.items()]

    ift = instruction_examples(by_split["ift"], cfg.instructions, cfg.pretrain.icl_demos, rng("ift"))
    trained = trained_words(pretrain, ift, restore)
    for row in heldout:  # the held-out people's names: bits/byte scores the other tokens (evaluation/probes_and_bpb.py)
        row["untrained"] = sorted(set(row["text"].split()) - trained)

    ev = by_split["eval"]
    probes: list[dict] = []
    for lang, lex in langs.items():
        probes += cloze_items(ev, lang, lex)
        probes += qa_items(ev, lang, lex)
        other = l2 if cfg.second_language else None  # diagnostics count an answer in the other language
        probes += icl_items(ev, lang, lex, cfg.probes.icl_per_language, cfg.pretrain.icl_demos, rng("icl-probe"), other)
        probes += private_items(ev, lang, lex, other)
    prompts = pattern_prompts(ev, cfg.probes.pattern_prompts, rng("pattern"))
    return World(cfg, seed, people, l2, pretrain, ift, restore, heldout, probes, prompts)


def lm_texts(people: list[Person], langs: dict, cfg: WorldConfig, bios: int, episodes: int, r: random.Random,
             *, tag: bool = False) -> list[dict]:
    """Pre-training-like {"text"} rows, shuffled: `bios` biography renderings of each person and
    `episodes` ICL episodes about them, per language (L2 scaled by `pretrain.l2_share`): the
    pre-training corpus and the restoration text are both made by this. `tag`: each biography row also
    names its `person` (id) and `language` (the same texts in the same order: what the unlearning
    study leaves out of an oracle's corpus, world/forget.py)."""
    def amount(n: int, lang: str, at_least: int = 0) -> int:  # L2 may be a lower-resource language
        return n if lang == "l1" else max(at_least, round(n * cfg.pretrain.l2_share))

    rows = [{"text": biography(p, r, cfg.templates_per_attribute, lex), **({"person": p.id, "language": lang} if tag else {})}
            for p in people for lang, lex in langs.items() for _ in range(amount(bios, lang, 1))]
    for lang, lex in langs.items():
        qm = QueryMaker(people, r)
        n = amount(episodes, lang)
        for i in range(n):
            chat = i < round(n * cfg.pretrain.icl_chat_share)
            rows.append({"text": pretrain_episode(qm, cfg.pretrain.icl_demos, chat, lex)})
    r.shuffle(rows)
    return rows


def trained_words(*corpora: list[dict]) -> set[str]:
    """Every word of every training text ({"text"} rows and {"messages"} rows' contents)."""
    words: set[str] = set()
    for rows in corpora:
        for row in rows:
            for text in [row["text"]] if "text" in row else [m["content"] for m in row["messages"]]:
                words.update(text.split())
    return words


def write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def write_world(world: World, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        folder / "world.json",
        {"seed": world.seed, "config": world.config.model_dump(mode="json"),
         "people": [asdict(p) for p in world.people], "l2_lexicon": world.l2},
    )
    for name in ("pretrain", "ift", "restore", "heldout", "probes", "pattern_prompts"):
        write_jsonl(folder / f"{name}.jsonl", getattr(world, name))


def read_l2_lexicon(world: str | Path, *, required: bool = True) -> dict[str, str] | None:
    """The world's L1 -> L2 lexicon, read from its world.json (`world`: the world folder or that file):
    the one reader of it. A world built with one language (`second_language: false`: its world.json
    still holds a lexicon, but its tokenizer has no L2 word) has none: None, or with `required` a
    one-line UserError. A world.json without a `config` counts as two languages (the default)."""
    path = Path(world).expanduser()
    file = path / "world.json" if path.is_dir() else path
    if not file.exists():
        raise UserError(f"{path}: not a fact-world folder (no world.json)")
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{file}:{e.lineno}: malformed JSON: {e.msg}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("l2_lexicon"), dict):
        raise UserError(f"{file}: no 'l2_lexicon' mapping (not a world.json that forgetscope wrote?)")
    config = meta.get("config")
    if isinstance(config, dict) and not config.get("second_language", True):
        if required:
            raise UserError(f"{file}: the world has one language (built with second_language: false), "
                            "so it has no L2 to translate into or score; build it with second_language: true")
        return None
    return meta["l2_lexicon"]
