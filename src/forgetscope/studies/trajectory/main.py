"""The trajectory study, top to bottom: per seed, world -> base -> fine-tune -> evaluate -> pattern
shift -> restore; then the analysis and the report over all seeds."""

from __future__ import annotations

from pathlib import Path

from forgetscope.distributed import barrier, is_main, launched
from forgetscope import precision
from forgetscope.execution import ProgressView, Reporter, map_seeds
from forgetscope.report import render_report
from forgetscope.runs import prepare_run, previous_config
from forgetscope.schema import TrajectorySummary
from forgetscope.store import RunStore
from forgetscope.studies.seeds import drop_stale_stages, run_seed_stages, stage_keys
from forgetscope.studies.trajectory.config import TrajectoryConfig
from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.studies.trajectory.preflight import check
from forgetscope.studies.trajectory.study import MAY_CHANGE, STUDY
from forgetscope.studies.trajectory.s1_world_generate import generate_world
from forgetscope.studies.trajectory.s2_base_pretrain import pretrain_base
from forgetscope.studies.trajectory.s3_model_finetune import finetune
from forgetscope.studies.trajectory.s4_checkpoints_evaluate import evaluate_checkpoints
from forgetscope.studies.trajectory.s5_pattern_measure import measure_pattern_shift
from forgetscope.studies.trajectory.s6_checkpoints_restore import restore_checkpoints
from forgetscope.studies.trajectory.s7_results_analyze import analyze
from forgetscope.views import BASE_STAGE, EVALUATE_STAGE, FINETUNE_STAGE, PATTERN_STAGE, RESTORE_STAGE, WORLD_STAGE

SEED_STAGES = (generate_world, pretrain_base, finetune, evaluate_checkpoints, measure_pattern_shift, restore_checkpoints)
SHARED_STAGES = SEED_STAGES[:2]  # with `base_seed`: the same world and base for every seed
# The config sections each stage reads (its key also covers every earlier stage's): a rerun with a
# changed config keeps each finished stage whose sections did not change.
STAGE_INPUTS = ((WORLD_STAGE, ("world", "base_seed")), (BASE_STAGE, ("base", "runtime.threads")), (FINETUNE_STAGE, ("finetune",)),
                (EVALUATE_STAGE, ("eval",)), (PATTERN_STAGE, ()), (RESTORE_STAGE, ("restore",)))


def run_seed(cfg: TrajectoryConfig, run_dir: str, seed: int, reporter: Reporter) -> int:
    precision.set_scoring(cfg.eval.mixed_precision)  # every NativeScorer of this process
    return run_seed_stages(SeedContext(cfg, RunStore(run_dir), seed, reporter), SEED_STAGES)


def run_shared(cfg: TrajectoryConfig, run_dir: str, seed: int, reporter: Reporter) -> int:
    """The world and the base every seed shares (`base_seed`), made once for the first seed before the
    seed workers start, so that the others take the base from the cache instead of each pre-training
    the same one at the same time."""
    return run_seed_stages(SeedContext(cfg, RunStore(run_dir), seed, reporter), SHARED_STAGES)


def run_trajectory(cfg: TrajectoryConfig, run_dir: Path, view: ProgressView) -> TrajectorySummary | None:
    """Seeds run in parallel processes; under a launcher (torchrun, accelerate launch) the launched
    processes take the seeds one after another together instead (see forgetscope.distributed)."""
    store = RunStore(run_dir)
    if is_main():  # every file, model and task name the config gives, before any compute
        check(cfg)
        before = previous_config(run_dir)
        store = prepare_run(run_dir, cfg, MAY_CHANGE)
        keys = stage_keys(cfg.model_dump(mode="json"), STAGE_INPUTS)
        for folder in drop_stale_stages(store, cfg.seeds, keys, stage_keys(before, STAGE_INPUTS) if before else None):
            view.console.print(f"[dim]config changed: {folder} runs again[/dim]", highlight=False)
    barrier()
    workers = 1 if launched() else cfg.runtime.resolved_workers(len(cfg.seeds))
    if cfg.base_seed is not None and workers > 1:
        map_seeds(run_shared, (cfg, str(run_dir)), cfg.seeds[:1], workers=1, threads=cfg.runtime.threads, view=view)
    map_seeds(run_seed, (cfg, str(run_dir)), cfg.seeds, workers=workers, threads=cfg.runtime.threads, view=view)
    barrier()
    if not is_main():
        return None
    summary = analyze(cfg, store)
    render_report(store, STUDY)
    return summary

