"""Write the SmolLM2 unlearning audit's probe file (deterministic: a selection of probes.jsonl, which
make_data.py writes).

    python examples/smollm2/make_unlearning_data.py   # writes examples/smollm2/data/unlearning-probes.jsonl

Three probes of cloze choice items (4 choices each, as in probes.jsonl), renamed by their role:
    forget_capitals    the capitals of the first FORGET countries of facts.CAPITALS  (unlearned, attacked)
    retain_capitals    the capitals of the next RETAIN countries                     (utility: the same kind of fact)
    general_languages  the main language of the first GENERAL countries of facts.LANGUAGES (utility: another category)
The relearning attack's text is restore.jsonl (general English naming none of the probed facts).
"""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).parent / "data"
FORGET, RETAIN, GENERAL = 20, 20, 20


def select() -> list[dict]:
    cloze = [json.loads(line) for line in (DATA / "probes.jsonl").read_text(encoding="utf-8").splitlines()]
    cloze = [r for r in cloze if r["probe"] == "facts_cloze"]
    capitals = [r for r in cloze if r["meta"]["category"] == "capital"]
    languages = [r for r in cloze if r["meta"]["category"] == "language"]
    roles = [("forget_capitals", capitals[:FORGET]), ("retain_capitals", capitals[FORGET:FORGET + RETAIN]),
             ("general_languages", languages[:GENERAL])]
    return [{**r, "id": r["id"].replace("facts_cloze", probe), "probe": probe} for probe, rows in roles for r in rows]


def main() -> None:
    rows = select()
    out = DATA / "unlearning-probes.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{out}: {len(rows)} rows")


if __name__ == "__main__":
    main()
