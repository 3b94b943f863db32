"""Stage 3: the fact world. A finished trajectory run (read through forgetscope.views.TrajectoryRun)
supplies, per seed, the world, the base and the fine-tuning checkpoints; here its base and chosen
checkpoints answer the world's ICL-vs-IF episodes and private-attribute requests in L1 and L2.
One unit per seed x model.

    3_fact_world/seed-<s>.step-<n>.items.parquet   rows as in stage 2, with seed and step (0 = base)
"""

from __future__ import annotations

import gc

import pandas as pd

from forgetscope.errors import UserError
from forgetscope.evaluation.probe_runner import run_probes
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.execution import Reporter
from forgetscope.store import RunStore, atomic_write_bytes
from forgetscope.studies.conjugate.config import ConjugateConfig
from forgetscope.studies.conjugate.rows import tidy_rows
from forgetscope.studies.stages import run_stage, stage_done
from forgetscope.suites.fact_world import FactWorldSuite
from forgetscope.views import TrajectoryRun


def chosen_steps(wanted, schedule: list[int], where: str) -> list[int]:
    steps = []
    for w in wanted:
        if w == "all":
            steps += schedule
            continue
        step = max(schedule) if w == "final" else w
        if step not in schedule:
            raise UserError(f"fact_world.checkpoints: step {w} is not a checkpoint of {where} (its steps: {schedule})")
        steps.append(step)
    return sorted(set(steps))


def world_seeds(cfg: ConjugateConfig, run: TrajectoryRun) -> list[int]:
    """The trajectory run's seeds this study uses (`seeds`, default all of them)."""
    seeds = cfg.seeds or run.seeds
    unknown = [s for s in seeds if s not in run.seeds]
    if unknown:
        raise UserError(f"seeds: seed {unknown[0]} is not a seed of {run.root} (its seeds: {run.seeds})")
    return seeds


def evaluate_fact_world(cfg: ConjugateConfig, store: RunStore, run: TrajectoryRun, reporter: Reporter, device) -> None:
    stage = store.stage("3_fact_world")
    if stage_done(stage):  # done and intact: its inputs need not be read
        return
    fw = cfg.fact_world
    units = {}
    for seed in world_seeds(cfg, run):
        for step in [0, *chosen_steps(fw.checkpoints, run.steps(seed), str(run.root))]:
            units[f"seed-{seed}.step-{step:06d}"] = (seed, step)

    def evaluate(unit: str) -> None:
        seed, step = units[unit]
        suite = FactWorldSuite(fw, run.world_dir(seed))
        scorer = NativeScorer(run.load_model(seed, step, device), run.tokenizer(seed), batch_size=cfg.eval.batch_size)
        rows = []
        for spec in fw.transforms:
            transform = suite.build(spec)
            items = suite.items(transform)
            settings = suite.settings(transform)
            group = {"suite": "fact_world", "transform": transform.label, "refusal_markers": list(settings.refusal_markers)}
            rows += tidy_rows(run_probes(scorer, items, settings), items, group, model="base" if step == 0 else "tuned",
                              seed=seed, step=step)
        atomic_write_bytes(stage.path / f"{unit}.items.parquet", pd.DataFrame(rows).to_parquet(index=False))
        del scorer
        gc.collect()

    run_stage(stage, evaluate, list(units), reporter=reporter, title="fact world",
              record={"trajectory_run": str(run.root.resolve()), "units": list(units)})
