"""What the unlearning study checks before any compute (forgetscope.preflight): a forget set to probe,
relearning text that states no forget fact, and an oracle folder with the world's tokenizer."""

from __future__ import annotations

from functools import cache

from forgetscope import preflight
from forgetscope.errors import UserError
from forgetscope.preflight import Check
from forgetscope.studies.unlearning.config import UnlearningConfig


def checks(cfg: UnlearningConfig) -> list[Check]:
    world = cache(lambda: _world(cfg))
    out = [Check("forget.people", lambda: _forget_probes(cfg, world))]
    if cfg.relearn.data != "world" and "text" in cfg.relearn.attacks:
        out.append(Check("relearn.data", lambda: _disjoint(cfg, world)))
    if cfg.oracle.path is not None:
        out.append(Check("oracle.path", lambda: _same_tokenizer(cfg, world)))
    return out


def check(cfg: UnlearningConfig) -> float:
    """Run every check; the seconds they took."""
    return preflight.run_checks(checks(cfg))


def _world(cfg: UnlearningConfig):
    from forgetscope.world.build import build_world

    return build_world(cfg.world, cfg.seeds[0] if cfg.base_seed is None else cfg.base_seed)


def _forget_probes(cfg: UnlearningConfig, world) -> None:
    n_eval = cfg.world.people.eval
    if cfg.forget.people == 0:
        raise UserError("forget.people: 0, so there are no forget probes: name at least one forget person")
    if cfg.forget.people >= n_eval:
        raise UserError(f"forget.people: {cfg.forget.people} leaves no retain people (world.people.eval is {n_eval}): use fewer")
    if cfg.forget.folds > cfg.forget.people:
        raise UserError(f"forget.folds: {cfg.forget.folds} parts of {cfg.forget.people} forget people leave a part empty")


def _disjoint(cfg: UnlearningConfig, world) -> None:
    """The text attack's rows must not state a forget person's fact (name and value in one row)."""
    from forgetscope.data import lm_texts, load_rows
    from forgetscope.world.forget import forget_split

    preflight.data(cfg.relearn.data, "text")
    texts = lm_texts(load_rows(cfg.relearn.data), cfg.relearn.data)
    for p in forget_split(world(), max(1, cfg.forget.people), 1).forget:
        for i, t in enumerate(texts, 1):
            words = set(t.split())
            if p.name in words and any(v in words for v in p.attributes.values()):
                raise UserError(f"{cfg.relearn.data}: row {i} names forget person {p.name} with one of their values: the "
                                "forget and relearning sets overlap (the text attack must be disjoint from the forget set)")


def _same_tokenizer(cfg: UnlearningConfig, world) -> None:
    from forgetscope.models import load_tokenizer

    theirs = load_tokenizer(cfg.oracle.path).get_vocab()
    if theirs != world().tokenizer().get_vocab():
        raise UserError(f"{cfg.oracle.path}: the oracle's tokenizer is not the world's ({len(theirs)} tokens): an oracle "
                        "must share the base's tokenizer, else its scores are not comparable")
