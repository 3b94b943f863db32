"""A pretrained base's forget, retain and general sets, from a probe file of choice items: the items
relabelled by set, the texts unlearning and the relearning attacks train on (an item's prompt followed
by its true choice), the forget set's folds, and the forget probe under prompt transforms.

Item ids become `<set>/<file id>` (forget/…, retain/…, forget_leetspeak/…): the part after the first
"/" names the fact, so an attacked probe pairs with the forget probe item by item, as the fact world's
`forget_l2/<person>/<attribute>` does with `forget/<person>/<attribute>`.
"""

from __future__ import annotations

from collections.abc import Sequence

from forgetscope.evaluation.items import ProbeItem

SETS = ("forget", "retain", "general")
IDK = " I don't know."  # the idk method's answer on a pretrained base


def fact_key(item_id: str) -> str:
    """The fact an item asks about: its id without the set's prefix."""
    return item_id.split("/", 1)[1] if "/" in item_id else item_id


def set_items(items: Sequence[ProbeItem], sets) -> list[ProbeItem]:
    """The items of `sets` (config.ProbeSets), relabelled: probe = the set, id = `<set>/<id>`."""
    out = []
    for name in SETS:
        chosen = set(getattr(sets, name))
        out += [it.model_copy(update={"id": f"{name}/{it.id}", "probe": name, "meta": {**it.meta, "source_probe": it.probe, "source_id": it.id}})
                for it in items if it.probe in chosen]
    return out


def fact_text(item: ProbeItem) -> str:
    """The fact an item states: its prompt followed by its true choice."""
    return item.prompt + item.choices[item.answer]  # type: ignore[index]


def folds(forget: Sequence[ProbeItem], n: int) -> list[list[str]]:
    """The forget items in `n` parts, round robin in file order over facts: items sharing `meta.fact`
    (or `meta.subject`) stay in one part, so a held-out part's facts are never trained on."""
    groups: dict[str, list[str]] = {}
    for it in forget:
        groups.setdefault(str(it.meta.get("fact", it.meta.get("subject", it.id))), []).append(it.id)
    parts: list[list[str]] = [[] for _ in range(n)]
    for k, ids in enumerate(groups.values()):
        parts[k % n] += ids
    return parts


def transformed(forget: Sequence[ProbeItem], name: str) -> list[ProbeItem]:
    """The forget probe with its prompts under the transform `name` (the choices kept): probe forget_<name>."""
    from forgetscope.transforms import get_transform

    t = get_transform(name)
    return [it.model_copy(update={"id": f"forget_{name}/{fact_key(it.id)}", "probe": f"forget_{name}", "prompt": t.apply(it.prompt)})
            for it in forget]


def translated(forget: Sequence[ProbeItem], rows: dict[str, dict], language: str, where: str) -> list[ProbeItem]:
    """The forget probe with its prompts read from a translation file's rows (by the probe file's item
    id) by the parallel transform: probe forget_<language>. A forget item without a row is an error."""
    from forgetscope.errors import UserError
    from forgetscope.transforms import get_transform

    t = get_transform("parallel", language=language)
    out = []
    for it in forget:
        key = it.meta["source_id"]
        if key not in rows:
            raise UserError(f"{where}: no row with id {key!r}: the translation needs every forget item")
        out.append(it.model_copy(update={"id": f"forget_{language}/{fact_key(it.id)}", "probe": f"forget_{language}",
                                         "prompt": t.select(rows[key], "prompt", where=where)}))
    return out


def translation_rows(path: str) -> dict[str, dict]:
    """A translation file's rows by their id."""
    from forgetscope.data import load_rows

    return {str(r.get("id")): r for r in load_rows(path)}


def overlapping(texts: Sequence[str], forget: Sequence[ProbeItem]) -> tuple[int, ProbeItem] | None:
    """The first (row number from 1, forget item) where a text states the item's fact (its prompt and
    true choice, whitespace and case aside), or None."""
    norm = lambda s: " ".join(s.split()).lower()  # noqa: E731
    facts = [(norm(fact_text(it)), it) for it in forget]
    for i, text in enumerate(texts, 1):
        t = norm(text)
        for fact, it in facts:
            if fact in t:
                return i, it
    return None
