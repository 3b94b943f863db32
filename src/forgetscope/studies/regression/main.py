"""The regression study, top to bottom: per seed, pre-train (or take the cached base) -> fine-tune on
the discrete family -> evaluate on a fixed set; then the analysis and the report over all seeds."""

from __future__ import annotations

from pathlib import Path

from forgetscope.execution import ProgressView, Reporter, map_seeds
from forgetscope.report import render_report
from forgetscope.runs import prepare_run
from forgetscope.schema import RegressionSummary
from forgetscope.store import RunStore
from forgetscope.studies.regression.config import RegressionConfig
from forgetscope.studies.regression.context import STAGES, SeedContext
from forgetscope.studies.regression.s1_base_pretrain import pretrain_base
from forgetscope.studies.regression.s2_model_finetune import finetune
from forgetscope.studies.regression.s3_checkpoints_evaluate import evaluate_checkpoints
from forgetscope.studies.regression.s4_results_analyze import analyze
from forgetscope.studies.regression.study import STUDY
from forgetscope.studies.seeds import run_seed_stages
from forgetscope.studies.stages import stage_done

SEED_STAGES = (pretrain_base, finetune, evaluate_checkpoints)


def run_seed(cfg: RegressionConfig, run_dir: str, seed: int, reporter: Reporter) -> int:
    return run_seed_stages(SeedContext(cfg, RunStore(run_dir), seed, reporter), SEED_STAGES)


def run_regression(cfg: RegressionConfig, run_dir: Path, view: ProgressView) -> RegressionSummary:
    """Seeds run in parallel processes; the models are small, so a launcher is refused (Study.launchable)."""
    store = prepare_run(run_dir, cfg)
    # a finished seed costs no process (a damaged stage is set aside here and done again in a worker)
    pending = [s for s in cfg.seeds if not all([stage_done(store.stage(name, s)) for name in STAGES])]
    if pending:
        map_seeds(run_seed, (cfg, str(run_dir)), pending, workers=cfg.runtime.resolved_workers(len(pending)),
                  threads=cfg.runtime.threads, view=view)
    summary = analyze(cfg, store)
    render_report(store, STUDY)
    return summary

