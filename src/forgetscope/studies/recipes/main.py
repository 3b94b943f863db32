"""The recipes study, top to bottom: for each recipe, its trajectory run (recipes/<name>/, a run folder
of its own) through the trajectory study's stages (world, base, evaluation, pattern shift,
restoration, analysis), with the recipe's own fine-tuning where it trains differently and the forward
KL after; then the recipes side by side, and the report."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from forgetscope import precision
from forgetscope.distributed import launched
from forgetscope.errors import UserError
from forgetscope.execution import ProgressView, Reporter, map_seeds
from forgetscope.report import render_report
from forgetscope.runs import prepare_run
from forgetscope.store import RunStore
from forgetscope.studies.recipes.config import Recipe, RecipesConfig
from forgetscope.studies.recipes.preflight import check
from forgetscope.studies.recipes.s1_recipe_finetune import finetune_recipe
from forgetscope.studies.recipes.s2_forward_kl_measure import measure_forward_kl
from forgetscope.studies.recipes.s3_recipes_analyze import analyze_recipes, recipe_dir
from forgetscope.studies.recipes.study import MAY_CHANGE, STUDY
from forgetscope.studies.recipes.summary import RecipesSummary
from forgetscope.studies.seeds import run_seed_stages
from forgetscope.studies.trajectory import main as trajectory
from forgetscope.studies.trajectory.config import TrajectoryConfig
from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.studies.trajectory.s3_model_finetune import finetune
from forgetscope.studies.trajectory.s7_results_analyze import analyze
from forgetscope.studies.trajectory.study import MAY_CHANGE as TRAJECTORY_MAY_CHANGE


def run_recipe_seed(cfg: TrajectoryConfig, recipe: dict, kl_examples: int, run_dir: str, seed: int, reporter: Reporter) -> int:
    """One seed of one recipe: the trajectory's stages, its fine-tuning swapped for the recipe's where it
    trains differently, then the forward KL."""
    precision.set_scoring(cfg.eval.mixed_precision)
    r = Recipe.model_validate(recipe)
    world, base, _, evaluate, pattern, restore = trajectory.SEED_STAGES
    tune = partial(finetune_recipe, recipe=r) if r.trains_differently else finetune
    stages = (world, base, tune, evaluate, pattern, restore, partial(measure_forward_kl, examples=kl_examples))
    return run_seed_stages(SeedContext(cfg, RunStore(run_dir), seed, reporter), stages)


def run_recipes(cfg: RecipesConfig, run_dir: Path, view: ProgressView) -> RecipesSummary:
    if launched():
        raise UserError("the recipes study runs in one process (its seeds in parallel workers): run it without a launcher")
    check(cfg)
    store = prepare_run(run_dir, cfg, MAY_CHANGE)
    for r in cfg.recipes:
        tcfg = cfg.trajectory_config(r)
        sub = recipe_dir(run_dir, r)
        sub_store = prepare_run(sub, tcfg, TRAJECTORY_MAY_CHANGE)
        view.console.print(f"[dim]recipe {r.name}: {r.describe()}[/dim]", highlight=False)
        workers = tcfg.runtime.resolved_workers(len(tcfg.seeds))
        if tcfg.base_seed is not None and workers > 1:  # the shared world and base, made once before the workers start
            map_seeds(trajectory.run_shared, (tcfg, str(sub)), tcfg.seeds[:1], workers=1, threads=tcfg.runtime.threads, view=view)
        map_seeds(run_recipe_seed, (tcfg, r.model_dump(mode="json"), cfg.analysis.kl_examples, str(sub)), tcfg.seeds,
                  workers=workers, threads=tcfg.runtime.threads, view=view)
        analyze(tcfg, sub_store)
    summary = analyze_recipes(cfg, store)
    render_report(store, STUDY)
    return summary
