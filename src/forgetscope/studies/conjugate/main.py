"""The conjugate study, top to bottom: check the models; build every suite's items under every
transform; evaluate the base and the fine-tuned model; evaluate the fact world's models (from a
trajectory run, built or resumed first through the study registry when it is not ready); analyse;
render the report."""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import BaseModel

from forgetscope.distributed import device_for
from forgetscope.errors import UserError
from forgetscope import precision
from forgetscope.execution import ProgressView, Reporter, quiet_libraries
from forgetscope.report import render_report
from forgetscope.runs import prepare_run
from forgetscope.schema import ConjugateSummary
from forgetscope.studies.conjugate.config import ConjugateConfig
from forgetscope.studies.conjugate.preflight import checked_build
from forgetscope.studies.conjugate.s1_items_build import build_items
from forgetscope.studies.conjugate.s2_models_evaluate import evaluate_models
from forgetscope.studies.conjugate.s3_world_evaluate import (
    evaluate_fact_world,
    world_seeds,
)
from forgetscope.studies.conjugate.s4_results_analyze import analyze
from forgetscope.studies.conjugate.study import STUDY
from forgetscope.studies.registry import Study
from forgetscope.views import TrajectoryRun


def check_models(cfg: ConjugateConfig) -> None:
    """Fail in one line, before any work, on a model folder that is not one or has no tokenizer."""
    chat = bool(cfg.refusal) or any(s is not None and s.format == "chat" for s in (cfg.icl_if, cfg.reasoning))
    for role, spec in cfg.models.items():
        spec.check()
        tok = spec.load_tokenizer()
        if chat and tok.chat_template is None:
            raise UserError(f"{spec.path}: the tokenizer has no chat template, which the chat-format suites need; "
                            f"set {role}.chat_template, or format: plain in icl_if/reasoning (refusal is always chat)")


def trajectory_run(cfg: ConjugateConfig, run_dir: Path, view: ProgressView, build: tuple[Study, BaseModel] | None) -> TrajectoryRun:
    """The trajectory run the fact world reads, ready for every chosen seed: when the folder holds no
    run, the trajectory study runs there (`build`: `fact_world.build` as the preflight loaded and
    checked it, a tiny-base trajectory config); an unfinished one is resumed."""
    from forgetscope.studies.registry import load_config

    fw = cfg.fact_world
    run = TrajectoryRun(fw.run_path(run_dir))
    if not run.exists:
        if build is None:
            raise UserError(f"{run.root}: no trajectory run there (no config.yaml); run the trajectory study first "
                            "or set fact_world.build to a trajectory config")
        study, tcfg = build
    elif not run.has_world:
        raise UserError(f"{run.root}: a trajectory run on a pretrained base has no fact world; fact_world needs a tiny-base run")
    elif not run.finished or not all(run.ready(s) for s in world_seeds(cfg, run)):
        # unfinished (a run killed part-way, this study's own build included): resumed to its end, so a
        # resumed conjugate run leaves the same trajectory run as an uninterrupted one
        study, tcfg = load_config(run.store.config_path)
    else:
        return run
    study.run(tcfg, run.root, view)
    return run


def run_conjugate(cfg: ConjugateConfig, run_dir: Path, view: ProgressView) -> ConjugateSummary:
    quiet_libraries()
    torch.set_num_threads(cfg.runtime.threads)
    precision.set_scoring(cfg.eval.mixed_precision)  # every NativeScorer of this process
    build = checked_build(cfg)  # the trajectory config it builds from, loaded and checked before any compute
    if cfg.model_suites:
        check_models(cfg)
    store = prepare_run(run_dir, cfg)  # first: a trajectory run built inside this folder must not look like foreign content
    world = trajectory_run(cfg, Path(run_dir), view, build) if cfg.fact_world is not None else None
    reporter = Reporter(view.handle, "conjugate")
    device = device_for(cfg.runtime.device)
    if cfg.model_suites:
        build_items(cfg, store, reporter)
        evaluate_models(cfg, store, reporter, device)
    if world is not None:
        evaluate_fact_world(cfg, store, world, reporter, device)
    summary = analyze(cfg, store)
    render_report(store, STUDY)
    return summary

