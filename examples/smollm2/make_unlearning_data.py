"""Write the SmolLM2 unlearning audit's probe file (deterministic: a selection of probes.jsonl, which
make_data.py writes).

    python examples/smollm2/make_unlearning_data.py   # writes examples/smollm2/data/unlearning-*.jsonl

Three probes of cloze choice items (4 choices each, as in probes.jsonl), renamed by their role:
    forget_capitals    the capitals of the first FORGET countries of facts.CAPITALS  (unlearned, attacked)
    retain_capitals    the capitals of the next RETAIN countries                     (utility: the same kind of fact)
    general_languages  the main language of the first GENERAL countries of facts.LANGUAGES (utility: another category)
The relearning attack's text is restore.jsonl (general English naming none of the probed facts).
unlearning-translation-fr.jsonl: each forget prompt in French ({"id", "prompt": {"en", "fr"}}), the
prompt-side attack `translation: {language: fr}` (our translations of "The capital of X is").
"""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).parent / "data"
FORGET, RETAIN, GENERAL = 20, 20, 20
# "the capital of" + country in French, for the forget countries (de + le = du, de + les = des)
FRENCH = {"France": "de la France", "Germany": "de l'Allemagne", "Italy": "de l'Italie", "Spain": "de l'Espagne",
          "Portugal": "du Portugal", "Japan": "du Japon", "China": "de la Chine", "Russia": "de la Russie",
          "Egypt": "de l'Égypte", "Greece": "de la Grèce", "Austria": "de l'Autriche", "Ireland": "de l'Irlande",
          "Norway": "de la Norvège", "Sweden": "de la Suède", "Finland": "de la Finlande", "Denmark": "du Danemark",
          "Poland": "de la Pologne", "Hungary": "de la Hongrie", "Belgium": "de la Belgique", "the Netherlands": "des Pays-Bas"}


def select() -> list[dict]:
    cloze = [json.loads(line) for line in (DATA / "probes.jsonl").read_text(encoding="utf-8").splitlines()]
    cloze = [r for r in cloze if r["probe"] == "facts_cloze"]
    capitals = [r for r in cloze if r["meta"]["category"] == "capital"]
    languages = [r for r in cloze if r["meta"]["category"] == "language"]
    roles = [("forget_capitals", capitals[:FORGET]), ("retain_capitals", capitals[FORGET:FORGET + RETAIN]),
             ("general_languages", languages[:GENERAL])]
    return [{**r, "id": r["id"].replace("facts_cloze", probe), "probe": probe} for probe, rows in roles for r in rows]


def translation(rows: list[dict]) -> list[dict]:
    forget = [r for r in rows if r["probe"] == "forget_capitals"]
    return [{"id": r["id"], "prompt": {"en": r["prompt"], "fr": f"La capitale {FRENCH[r['meta']['subject']]} est"}} for r in forget]


def write(name: str, rows: list[dict]) -> None:
    out = DATA / name
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{out}: {len(rows)} rows")


def main() -> None:
    rows = select()
    write("unlearning-probes.jsonl", rows)
    write("unlearning-translation-fr.jsonl", translation(rows))


if __name__ == "__main__":
    main()
