"""Stage 4 (whole run): gather the item tables, compute accuracies, drops and recovered shares with
CIs (analysis.conjugate), write results/ and summary.json (forgetscope.schema.ConjugateSummary).
The fact world's findings are its claims one by one, each across the checkpoints (analysis.conjugate.
world_findings): no record joins them, since no checkpoint of the shipped world can show all five.

    results/items.parquet             model suites: one row per model x transform x item
    results/fact_world_items.parquet  fact world: one row per seed x step x transform x item
"""

from __future__ import annotations

import json

import pandas as pd

from forgetscope import __version__
from forgetscope.analysis.conjugate import (
    suite_findings, suite_rows, world_checks, world_claims, world_findings, world_rows,
)
from forgetscope.analysis.stats import require_finite
from forgetscope.schema import ConjugateSummary
from forgetscope.store import RunStore, atomic_write_bytes, atomic_write_json
from forgetscope.studies.conjugate.config import ConjugateConfig


def _gather(folder) -> pd.DataFrame:
    frames = [pd.read_parquet(f) for f in sorted(folder.glob("*.items.parquet"))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def analyze(cfg: ConjugateConfig, store: RunStore) -> ConjugateSummary:
    a = cfg.analysis
    store.results_dir.mkdir(parents=True, exist_ok=True)
    summary: dict = {"name": cfg.name, "seeds": [cfg.seed],
                     "ci_level": a.ci_level, "models": {k: (m.path if m else None) for k, m in (("base", cfg.base), ("tuned", cfg.tuned))},
                     "suites": {}, "fact_world": None, "forgetscope_version": __version__}
    if cfg.model_suites:
        items = _gather(store.stage("2_evaluate").path)
        require_finite(items, ["score"], f"{store.stage('2_evaluate').path}: the scores")
        atomic_write_bytes(store.results_dir / "items.parquet", items.to_parquet(index=False))
        groups = json.loads((store.stage("1_items").path / "groups.json").read_text())
        for name in cfg.model_suites:
            gs = [g for g in groups if g["suite"] == name]
            labels = [g["transform"] for g in gs]
            sub = items[items["suite"] == name]
            summary["suites"][name] = {
                "metric": gs[0]["metric"], "transforms": labels, "rules": {g["transform"]: g["describe"] for g in gs},
                "rows": suite_rows(sub, labels, level=a.ci_level, n_boot=a.n_bootstrap, seed=cfg.seed, min_drop=a.min_drop),
            }
    if cfg.fact_world is not None:
        world = _gather(store.stage("3_fact_world").path)
        require_finite(world, ["score"], f"{store.stage('3_fact_world').path}: the scores")
        atomic_write_bytes(store.results_dir / "fact_world_items.parquet", world.to_parquet(index=False))
        labels = list(dict.fromkeys(world["transform"]))
        rows = world_rows(world, labels, level=a.ci_level, min_drop=a.min_drop)
        seeds = sorted(int(s) for s in world["seed"].unique())
        if not cfg.model_suites:
            summary["seeds"] = seeds
        checks = world_checks(rows, a.ci_level)
        summary["fact_world"] = {
            "run": store.stage("3_fact_world").record().get("trajectory_run"),
            "seeds": seeds,
            "steps": sorted(int(s) for s in world["step"].unique() if s > 0),
            "transforms": labels, "languages": {"identity": "L1", "world_l2": "L2"},
            "metric": "icl: accuracy (starts_with); private: answer rate (1 - refusal rate)",
            "rows": rows, "checks": checks, "claims": world_claims(checks),
        }
    summary["findings"] = suite_findings(summary["suites"]) + (world_findings(summary["fact_world"]["checks"])
                                                              if summary["fact_world"] else [])
    result = ConjugateSummary.model_validate(summary)
    atomic_write_json(store.summary_path, result.model_dump(mode="json"))
    return result
