"""The unlearning study, top to bottom: per seed, world -> base and oracles -> unlearn -> evaluate ->
relearn; then the verdicts and the report over all seeds (docs/unlearning.md)."""

from __future__ import annotations

from pathlib import Path

from forgetscope.execution import ProgressView, Reporter, map_seeds
from forgetscope.report import render_report
from forgetscope.runs import prepare_run
from forgetscope.store import RunStore
from forgetscope.studies.seeds import run_seed_stages
from forgetscope.studies.unlearning.config import UnlearningConfig
from forgetscope.studies.unlearning.context import SeedContext
from forgetscope.studies.unlearning.preflight import check
from forgetscope.studies.unlearning.s1_world_generate import generate_world
from forgetscope.studies.unlearning.s2_bases_pretrain import pretrain_bases
from forgetscope.studies.unlearning.s3_models_unlearn import unlearn_models
from forgetscope.studies.unlearning.s4_models_evaluate import evaluate_models
from forgetscope.studies.unlearning.s5_models_relearn import relearn_models
from forgetscope.studies.unlearning.s6_results_analyze import analyze
from forgetscope.studies.unlearning.study import MAY_CHANGE, STUDY
from forgetscope.studies.unlearning.summary import UnlearningSummary

SEED_STAGES = (generate_world, pretrain_bases, unlearn_models, evaluate_models, relearn_models)
# With base_seed the world and the bases are stages at the run's top, shared: the seed processes take
# their units (one base each) in parallel (SeedContext.shared_stage).


def run_seed(cfg: UnlearningConfig, run_dir: str, seed: int, reporter: Reporter) -> int:
    return run_seed_stages(SeedContext(cfg, RunStore(run_dir), seed, reporter), SEED_STAGES)


def run_unlearning(cfg: UnlearningConfig, run_dir: Path, view: ProgressView) -> UnlearningSummary:
    """Seeds run in parallel processes; a launcher is refused (Study.launchable)."""
    check(cfg)
    store = prepare_run(run_dir, cfg, MAY_CHANGE)
    workers = cfg.runtime.resolved_workers(len(cfg.seeds))
    map_seeds(run_seed, (cfg, str(run_dir)), cfg.seeds, workers=workers, threads=cfg.runtime.threads, view=view)
    summary = analyze(cfg, store)
    render_report(store, STUDY)
    return summary
