"""What the unlearning study checks before any compute (forgetscope.preflight): a forget set to probe,
relearning text that states no forget fact, and an oracle folder with the world's tokenizer; on a
pretrained base also the base, the probe file's sets, and every unlearned folder and checkpoint
against the base (architecture and tokenizer); on either, the general_tasks' names."""

from __future__ import annotations

from functools import cache

from forgetscope import preflight
from forgetscope.errors import UserError
from forgetscope.preflight import Check
from forgetscope.studies.unlearning.config import UnlearningConfig


def checks(cfg: UnlearningConfig) -> list[Check]:
    return (pretrained_checks(cfg) if cfg.pretrained else world_checks(cfg)) + task_checks(cfg)


def task_checks(cfg: UnlearningConfig) -> list[Check]:
    """general_tasks: every name known to lm-eval or the include path (lm-eval's index: seconds)."""
    if not cfg.general_tasks:
        return []
    return [Check("general_tasks", lambda: preflight.lm_eval_tasks(cfg.general_tasks, cfg.general_tasks_include_path,
                                                                    "general_tasks_include_path"))]


def world_checks(cfg: UnlearningConfig) -> list[Check]:
    world = cache(lambda: _world(cfg))
    out = [Check("forget.people", lambda: _forget_probes(cfg, world))]
    if cfg.relearn.data != "world" and "text" in cfg.relearn.attacks:
        out.append(Check("relearn.data", lambda: _disjoint(cfg, world)))
    if cfg.oracle.path is not None:
        out.append(Check("oracle.path", lambda: _same_tokenizer(cfg, world)))
    return out


def pretrained_checks(cfg: UnlearningConfig) -> list[Check]:
    from forgetscope.studies.unlearning import probe_sets as P

    forget = cache(lambda: _probe_sets(cfg))
    out = [Check("base", lambda: preflight.model(cfg.base)), Check("probes", forget)]
    if "text" in cfg.relearn.attacks:
        out.append(Check("relearn.data", lambda: _disjoint_items(cfg, forget)))
    out.append(Check("relearn.train.max_length", lambda: _fact_blocks(cfg, forget)))
    if cfg.translation is not None:
        tr = cfg.translation
        out.append(Check("translation", lambda: P.translated(forget(), P.translation_rows(tr.path), tr.language, tr.path)))
    if cfg.oracle.path is not None:
        out.append(Check("oracle.path", lambda: _oracle_tokenizer(cfg)))
    if cfg.unlearned:
        out.append(Check("unlearned", lambda: _folders(cfg)))
    if cfg.checkpoints_from is not None:
        out.append(Check("checkpoints_from", lambda: preflight.checkpoints(cfg.checkpoints_from, cfg.base)))
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
    from forgetscope.models.loading import same_tokenizer

    theirs = load_tokenizer(cfg.oracle.path)
    if not same_tokenizer(theirs, world().tokenizer()):
        raise UserError(f"{cfg.oracle.path}: the oracle's tokenizer is not the world's ({len(theirs)} tokens): an oracle "
                        "must share the base's tokenizer, else its scores are not comparable")


def _probe_sets(cfg: UnlearningConfig) -> list:
    """The probe file's forget items; every set non-empty, every item a choice item, folds not empty."""
    from forgetscope.evaluation.items import load_items
    from forgetscope.studies.unlearning import probe_sets as P

    sets = cfg.probes
    items = P.set_items(load_items(sets.path), sets)
    for name in P.SETS:
        if not any(it.probe == name for it in items):
            names = ", ".join(getattr(sets, name))
            raise UserError(f"{sets.path}: no items of probe {names}, so there are no {name} probes: name probes the file has")
    bad = next((it for it in items if it.kind != "choice"), None)
    if bad is not None:
        raise UserError(f"{sets.path}: item {P.fact_key(bad.id)!r} is a {bad.kind} item: the unlearning sets need choice items "
                        "(accuracy and the true answer's log-likelihood)")
    forget = [it for it in items if it.probe == "forget"]
    if any(not part for part in P.folds(forget, cfg.forget.folds)):
        raise UserError(f"forget.folds: {cfg.forget.folds} parts of {len(forget)} forget items leave a part empty")
    return forget


def _folders(cfg: UnlearningConfig) -> None:
    """Each unlearned folder: a model (or adapter) of the base's architecture and tokenizer."""
    from forgetscope.models.checkpoints_from import CheckpointRef

    preflight.checkpoints([CheckpointRef(step=i + 1, path=u.path) for i, u in enumerate(cfg.unlearned)], cfg.base)


def _disjoint_items(cfg: UnlearningConfig, forget) -> None:
    """The text attack's rows must not state a forget item's fact (its prompt with its true choice)."""
    from forgetscope.data import lm_texts, load_rows
    from forgetscope.studies.unlearning.probe_sets import fact_key, overlapping

    preflight.data(cfg.relearn.data, "text")
    hit = overlapping(lm_texts(load_rows(cfg.relearn.data), cfg.relearn.data), forget())
    if hit is not None:
        row, item = hit
        raise UserError(f"{cfg.relearn.data}: row {row} states forget item {fact_key(item.id)!r} (its prompt with its true answer): "
                        "the forget and relearning sets overlap (the text attack must be disjoint from the forget set)")


def _fact_blocks(cfg: UnlearningConfig, forget) -> None:
    """The forget_folds and retain attacks pack their facts' texts into blocks of relearn.train.max_length
    tokens (training.LMBatches): each needs one block at least."""
    from forgetscope.evaluation.items import load_items
    from forgetscope.studies.unlearning import probe_sets as P

    block, tok = cfg.relearn.train.max_length, cfg.base.load_tokenizer()
    texts = {}
    if "forget_folds" in cfg.relearn.attacks:
        for k, fold in enumerate(P.folds(forget(), cfg.forget.folds)):
            texts[f"the forget_folds attack's part {k}"] = [P.fact_text(it) for it in forget() if it.id not in set(fold)]
    if "retain" in cfg.relearn.attacks:
        retain = [it for it in P.set_items(load_items(cfg.probes.path), cfg.probes) if it.probe == "retain"]
        texts["the retain attack"] = [P.fact_text(it) for it in retain]
    for what, rows in texts.items():
        n = preflight.lm_tokens(rows, tok, block)
        if n < block:
            raise UserError(f"{what} trains on {n} tokens, fewer than one block of {block} (relearn.train.max_length): "
                            "lower max_length or give more facts")


def _oracle_tokenizer(cfg: UnlearningConfig) -> None:
    from forgetscope.models import ModelSpec
    from forgetscope.models.loading import same_tokenizer

    oracle = ModelSpec(path=cfg.oracle.path, revision=None, trust_remote_code=cfg.base.trust_remote_code)
    preflight.model(oracle)
    mine, base = oracle.load_tokenizer(), cfg.base.load_tokenizer()
    if not same_tokenizer(mine, base):
        raise UserError(f"{cfg.oracle.path}: the oracle's tokenizer is not the base's ({len(mine)} tokens, the base's {len(base)}): "
                        "an oracle must share the base's tokenizer, else its scores are not comparable")
