"""The recipes study, top to bottom: each recipe runs as a trajectory study in its own run folder
(recipes/<name>/), through the trajectory study's record; a recipe that trains differently first
fine-tunes there itself (s1), with the world and base of the first recipe's run, and every recipe after
the first takes its restored base from that run (shared_control). Then the forward KL of every
checkpoint (s2), the interpolation sweep of the last checkpoints (s3), the recipes side by side (s4)
and the report."""

from __future__ import annotations

from pathlib import Path

from forgetscope.execution import ProgressView, map_seeds
from forgetscope.report import render_report
from forgetscope.runs import prepare_run
from forgetscope.store import RunStore
from forgetscope.studies.recipes.config import TRAJECTORY, RecipesConfig
from forgetscope.studies.recipes.inputs import recipe_dir
from forgetscope.studies.recipes.preflight import check
from forgetscope.studies.recipes.s1_recipe_finetune import finetune_recipe
from forgetscope.studies.recipes.s2_forward_kl_measure import measure_forward_kl
from forgetscope.studies.recipes.s3_interpolation_evaluate import evaluate_interpolation
from forgetscope.studies.recipes.s4_results_analyze import analyze_recipes
from forgetscope.studies.recipes.shared_control import share_restored_base
from forgetscope.studies.recipes.study import MAY_CHANGE, STUDY
from forgetscope.studies.recipes.summary import RecipesSummary


def run_recipes(cfg: RecipesConfig, run_dir: Path, view: ProgressView) -> RecipesSummary:
    check(cfg)
    store = prepare_run(run_dir, cfg, MAY_CHANGE)
    workers = cfg.runtime.resolved_workers(len(cfg.seeds))
    source = None  # the first recipe's run: the world and base of the recipes that train differently
    for r in cfg.run_order:
        tcfg, sub = cfg.trajectory_config(r), recipe_dir(run_dir, r.name)
        view.console.print(f"[dim]recipe {r.name}: {r.describe()} ({sub})[/dim]", highlight=False)
        if source is not None:
            prepare_run(sub, tcfg, TRAJECTORY.may_change)
            share_restored_base(source, sub, cfg.seeds)  # the control, computed once
        if r.trains_differently:
            map_seeds(finetune_recipe, (cfg, r.name, str(source), str(sub)), cfg.seeds, workers=workers,
                      threads=cfg.runtime.threads, view=view)
        TRAJECTORY.run(tcfg, sub, view)  # finds a recipe's own fine-tuning done, and probes, restores, analyses it
        source = source or sub
    map_seeds(measure_forward_kl, (cfg, str(run_dir)), cfg.seeds, workers=workers, threads=cfg.runtime.threads, view=view)
    if cfg.swept:
        map_seeds(evaluate_interpolation, (cfg, str(run_dir)), cfg.seeds, workers=workers, threads=cfg.runtime.threads, view=view)
    summary = analyze_recipes(cfg, RunStore(run_dir))
    render_report(store, STUDY)
    return summary
