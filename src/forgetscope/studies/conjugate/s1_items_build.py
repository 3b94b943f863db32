"""Stage 1: every model suite's probe items under every transform, written once (a model-backed
transform translates here, once, and the store keeps the result).

    1_items/items.jsonl   one ProbeItem per line (ids "<suite>/<transform>/<task>/<n>")
    1_items/groups.json   per suite x transform: generation settings and refusal markers
"""

from __future__ import annotations

import json

from forgetscope.execution import Reporter
from forgetscope.store import RunStore, atomic_write_json, atomic_write_text
from forgetscope.studies.conjugate.config import ConjugateConfig
from forgetscope.studies.stages import run_stage
from forgetscope.suites import SUITES


def build_items(cfg: ConjugateConfig, store: RunStore, reporter: Reporter) -> None:
    stage = store.stage("1_items")
    run_stage(stage, lambda _: _build(cfg, stage.path, reporter), fresh=True)


def _build(cfg: ConjugateConfig, folder, reporter: Reporter) -> dict:
    specs = [(name, spec) for name in cfg.model_suites for spec in cfg.transforms_of(name)]
    reporter.start("items", len(specs))
    lines, groups = [], []
    suites = {name: SUITES.get(name).from_config(getattr(cfg, name), cfg.seed) for name in cfg.model_suites}
    for name, spec in specs:
        suite, transform = suites[name], spec.build()
        items = suite.items(transform)
        s = suite.settings(transform)
        groups.append({"suite": name, "transform": transform.label, "describe": transform.describe(),
                       "metric": suite.metric, "max_new_tokens": s.max_new_tokens, "stop": list(s.stop),
                       "refusal_markers": list(s.refusal_markers), "rule": getattr(getattr(suite, "cfg", None), "rule", None),
                       "ids": [it.id for it in items]})
        lines += [json.dumps(it.model_dump(mode="json"), ensure_ascii=False) + "\n" for it in items]
        if hasattr(transform, "unload"):
            transform.unload()
        reporter.advance()
    atomic_write_text(folder / "items.jsonl", "".join(lines))
    atomic_write_json(folder / "groups.json", groups)
    return {"items": len(lines), "groups": len(groups)}
