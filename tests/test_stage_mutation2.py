"""Tests written for mutants of the stages, the scorer, the probe runner and restoration that survived
every other test in issue 25's second sampled pass (docs/mutation.md): each fails on the mutant named
in its docstring and passes on the code as it is."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import save_file


def test_interpolation_of_a_model_whose_config_does_not_name_tied_embeddings(tmp_path):
    """restoration.interpolation._tied: a config without `tie_word_embeddings` is an untied model
    (transformers 5 sets the attribute only on the configs that define it; 204 of its 559 model
    configs do not). Mutant `_tied__mutmut_8`: `getattr(model.config, "tie_word_embeddings")` with
    no default, an AttributeError for such a model once a weight is missing from the base."""
    from forgetscope.errors import UserError
    from forgetscope.restoration import interpolate_toward_base

    torch.manual_seed(0)
    model, base = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    model.config = SimpleNamespace()  # no tie_word_embeddings at all
    (tmp_path / "base").mkdir()
    save_file({k: v.detach().clone() for k, v in base.state_dict().items()}, tmp_path / "base" / "model.safetensors")
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    interpolate_toward_base(model, tmp_path / "base", 0.5)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, 0.5 * before[k] + 0.5 * base.state_dict()[k])
    # a weight the base lacks is asked about (untied: it must be there), and named
    (tmp_path / "partial").mkdir()
    save_file({"weight": base.weight.detach().clone()}, tmp_path / "partial" / "model.safetensors")
    with pytest.raises(UserError, match=r"base lacks weights \['bias'\]"):
        interpolate_toward_base(model, tmp_path / "partial", 0.5)


class _TrajectoryRun:
    """The part of forgetscope.views.TrajectoryRun that the conjugate study's stage 3 reads: one seed,
    its world folder and the same tiny model at every step."""

    def __init__(self, root, lm):
        self.root, self.seeds, (self._model, self._tok) = root, [0], lm

    def steps(self, seed):
        return [3]

    def world_dir(self, seed):
        return self.root / "world"

    def load_model(self, seed, step, device):
        return self._model

    def tokenizer(self, seed):
        return self._tok


def test_fact_world_rows_name_the_base_and_the_tuned_model_as_the_model_suites_do(tmp_path, tiny_world, tiny_lm):
    """conjugate s3_world_evaluate.evaluate_fact_world: step 0 is the model `base`, every checkpoint
    `tuned` (the names stage 2's rows and the report's filters use). Mutants `evaluate_fact_world__mutmut_83`
    (`"BASE"`: the tidy table's base rows no longer match `model == "base"`) and `__mutmut_71` (no model);
    its record names the trajectory run it read."""
    import pandas as pd

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.conjugate.config import ConjugateConfig
    from forgetscope.studies.conjugate.s3_world_evaluate import evaluate_fact_world
    from forgetscope.world.build import write_world

    write_world(tiny_world, tmp_path / "traj" / "world")
    fact_world = {"run": str(tmp_path / "traj"), "checkpoints": ["all"]}
    cfg = ConjugateConfig.model_validate({"study": "conjugate", "fact_world": fact_world})
    store = RunStore(tmp_path / "run")
    evaluate_fact_world(cfg, store, _TrajectoryRun(tmp_path / "traj", tiny_lm), Reporter(None, "test"), "cpu")
    items = pd.concat(pd.read_parquet(f) for f in sorted(store.stage("3_fact_world").path.glob("*.items.parquet")))
    assert set(items["step"]) == {0, 3} and set(items["task"]) >= {"icl", "private"}
    by_step = items.groupby("step")["model"].agg(set).to_dict()
    assert by_step == {0: {"base"}, 3: {"tuned"}}
    # the record names the trajectory run (summary.json's fact_world.run; mutant `__mutmut_111`: another key)
    assert store.stage("3_fact_world").record()["trajectory_run"] == str((tmp_path / "traj").resolve())


def test_the_restoration_curve_scores_the_primary_probe_part_of_the_way_through(tmp_path, tiny_world, tiny_lm):
    """trajectory s6_checkpoints_restore: a curve point is the primary probe's item scores after that
    many restoration steps, the same as a restoration stopped there (a constant learning rate and a
    batch order fixed by the seed make step 1 of 2 the same model as a 1-step run). Mutant
    `restore_checkpoints__mutmut_59`: the curve rows' score saved as `XXscoreXX`, so every curve point
    of summary.json was null while the oracle, reading the same files, agreed."""
    import copy

    import pandas as pd

    from forgetscope.evaluation.items import load_items
    from forgetscope.evaluation.probe_runner import ProbeSettings, run_probes
    from forgetscope.evaluation.scorer import NativeScorer
    from forgetscope.execution import Reporter
    from forgetscope.restoration import restore_by_lm_training
    from forgetscope.store import RunStore
    from forgetscope.studies.trajectory.config import TrajectoryConfig
    from forgetscope.studies.trajectory.s6_checkpoints_restore import restore_checkpoints
    from forgetscope.world.build import write_world
    from conftest import SMOKE

    model, tok = tiny_lm
    train = {"steps": 2, "batch_size": 4, "max_length": 32}
    restorers = [{"name": "lm_training", "options": {"curve": [0.5]}}]
    cfg = TrajectoryConfig.model_validate({**SMOKE, "restore": {"train": train, "restorers": restorers}})
    write_world(tiny_world, tmp_path / "world")
    primary = [it for it in load_items(tmp_path / "world" / "probes.jsonl") if it.probe == cfg.analysis.primary_probe]
    texts = [r["text"] for r in tiny_world.restore]
    settings = ProbeSettings()
    ctx = SimpleNamespace(cfg=cfg, seed=0, steps=[], tokenizer=tok, probe_items=primary, heldout_rows=[], probe_settings=settings,
                          base_path="unused", reporter=Reporter(None, "test"), stage=RunStore(tmp_path / "run").stage,
                          rows=lambda ref, default: tiny_world.restore, label=lambda ref, default: default,
                          load_step=lambda step: copy.deepcopy(model))
    restore_checkpoints(ctx)
    curve = pd.read_parquet(next((tmp_path / "run").rglob("*.curve.parquet")))
    half, _ = restore_by_lm_training(copy.deepcopy(model), tok, texts, cfg.restore.train.model_copy(update={"steps": 1}), seed=0)
    want = {r["item_id"]: r["score"] for r in run_probes(NativeScorer(half.eval(), tok), primary, settings)}
    before = {r["item_id"]: r["score"] for r in run_probes(NativeScorer(model, tok), primary, settings)}
    assert want != before  # the test tells the curve point from the checkpoint it started from
    assert list(curve["fraction"].unique()) == [0.5] and list(curve["restore_step"].unique()) == [1]
    assert dict(zip(curve["item_id"], curve["score"], strict=True)) == want


def test_the_trajectory_base_cache_key_changes_with_the_base_format(tmp_path, tiny_world, monkeypatch):
    """trajectory s2_base_pretrain.base_cache_key: bumping BASE_FORMAT (what the pre-training code makes
    a base) gives every base a new key, so no base of the old code is taken from the cache. Mutant
    `base_cache_key__mutmut_17`: None in place of BASE_FORMAT, a key that no bump changes."""
    from forgetscope.studies.trajectory import s2_base_pretrain
    from forgetscope.studies.trajectory.config import TrajectoryConfig
    from forgetscope.world.build import write_world
    from conftest import SMOKE

    write_world(tiny_world, tmp_path)
    tiny_world.tokenizer().save_pretrained(tmp_path / "tokenizer")
    ctx = SimpleNamespace(world_dir=tmp_path, cfg=TrajectoryConfig.model_validate(SMOKE), world_seed=0)
    key = s2_base_pretrain.base_cache_key(ctx)
    assert s2_base_pretrain.base_cache_key(ctx) == key
    monkeypatch.setattr(s2_base_pretrain, "BASE_FORMAT", s2_base_pretrain.BASE_FORMAT + 1)
    assert s2_base_pretrain.base_cache_key(ctx) != key


def test_the_world_stage_record_counts_the_files_it_wrote(tmp_path):
    """trajectory s1_world_generate.generate_world: the stage's completion record counts the people,
    pre-training documents, fine-tuning examples and probe items of the world it wrote, counted here
    from the files themselves. Mutant `generate_world__mutmut_25`: the count of people under `PEOPLE`."""
    import json

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.trajectory.s1_world_generate import generate_world
    from forgetscope.views import WORLD_STAGE
    from forgetscope.world.config import WorldConfig
    from conftest import SMOKE

    cfg = SimpleNamespace(uses_world=True, world=WorldConfig.model_validate(SMOKE["world"]))
    store = RunStore(tmp_path / "run")
    generate_world(SimpleNamespace(cfg=cfg, world_seed=0, reporter=Reporter(None, "test"), stage=store.stage))
    stage = store.stage(WORLD_STAGE)
    lines = {name: len((stage.path / f"{name}.jsonl").read_text().splitlines()) for name in ("pretrain", "ift", "probes")}
    people = len(json.loads((stage.path / "world.json").read_text())["people"])
    record = stage.record()
    assert {k: record[k] for k in ("people", "pretrain_docs", "ift_examples", "probe_items")} == {
        "people": people, "pretrain_docs": lines["pretrain"], "ift_examples": lines["ift"], "probe_items": lines["probes"]}
    assert people == sum(SMOKE["world"]["people"].values())


@pytest.mark.parametrize(("budget", "steps", "warmup"), [(1, 3, 2), (2, 6, 4), (1.5, 4, 3), (0.5, 2, 1)])
def test_a_restorers_budget_scales_its_steps_and_warm_up(budget, steps, warmup):
    """restoration.lm_training.LMTrainingRestorer.train_config: budget b trains round(b × steps) steps
    with round(b × warm-up) of warm-up (Python rounds halves to even: 4.5 → 4). Mutant
    `train_config__mutmut_4` (the steps left as they were): `restored-x2` was the budget-1 restoration
    again, so the check that restoration had run its course always passed."""
    from forgetscope.restoration.lm_training import LMTrainingRestorer
    from forgetscope.training import TrainConfig

    cfg = LMTrainingRestorer(LMTrainingRestorer.Options(budget=budget)).train_config(TrainConfig(steps=3, warmup_steps=2))
    assert (cfg.steps, cfg.warmup_steps) == (steps, warmup)


def test_lm_eval_task_documents_become_probe_items_scored_by_the_tasks_metric():
    """trajectory s7_results_analyze.task_items: each lm-eval task's documents become item rows scored
    by the configured metric (else the first the task reports); a task whose values leave [0, 1] is
    left out. Mutant `task_items__mutmut_13` (the probe column read as `PROBE`): a KeyError for every
    run with `eval.lm_eval_tasks`, which no test of the harness's selection makes."""
    import pandas as pd

    from forgetscope.studies.trajectory.s7_results_analyze import task_items

    def doc(task, i, metric, score):
        return {"seed": 0, "condition": "checkpoint", "step": 0, "item_id": f"{task}/{i}", "probe": task,
                "kind": "multiple_choice", "metric": metric, "score": score, "output": "a"}

    lm_eval = pd.DataFrame([doc("arc", 0, "acc", 1.0), doc("arc", 0, "acc_norm", 0.0), doc("arc", 1, "acc", 0.0),
                            doc("arc", 1, "acc_norm", 1.0), doc("boolq", 0, "acc", 1.0), doc("wiki", 0, "word_perplexity", 31.5),
                            # a probe item scored through lm-eval (`eval.backend: lm_eval`): items.parquet has it already
                            doc("cloze_l1", "p0016/birth_city", "acc", 1.0)])
    rows, metrics = task_items(lm_eval, [SimpleNamespace(name="arc", metric="acc_norm")], {"cloze_l1"})
    assert metrics == {"arc": "acc_norm", "boolq": "acc"}
    got = {(r.probe, r.item_id): r.score for r in rows.itertuples()}
    assert got == {("arc", "arc/0"): 0.0, ("arc", "arc/1"): 1.0, ("boolq", "boolq/0"): 1.0}


def test_a_probe_summary_names_an_lm_eval_task_as_its_source():
    """trajectory s7_results_analyze.probe_summary: a probe scored by an lm-eval task's metric says so
    (`source: lm_eval`, and the metric), one of the probe items says `probes`; nothing else differs.
    Mutant `probe_summary__mutmut_134`: every probe's source `probes`, so summary.json and the report
    passed an lm-eval task's numbers off as the fact world's probes."""
    import pandas as pd

    from forgetscope.studies.trajectory.s7_results_analyze import probe_summary

    keys = ("score", "restored", "forgetting", "recovered", "unrecovered", "gap", "base", "restored_base")
    row = {k: 0.5 for k in keys} | {f"{k}_{end}": v for k in keys for end, v in (("lo", 0.4), ("hi", 0.6))}
    tags = {"probe": "arc", "restorer": "restored", "label": "none", "label_by_seed": ["none"]}
    agg = pd.DataFrame([{**row, **tags, "step": s} for s in (0, 3)])
    task, probes = probe_summary(agg, "arc", 0.05, "restored", [], "acc"), probe_summary(agg, "arc", 0.05, "restored", [])
    assert (task["source"], task["metric"], probes["source"], probes["metric"]) == ("lm_eval", "acc", "probes", None)
    rest = lambda s: {k: v for k, v in s.items() if k not in ("source", "metric")}  # noqa: E731
    assert rest(task) == rest(probes)


def test_a_restorers_options_error_names_where_it_is():
    """restoration.base.RestorerSpec.build: a validation error that belongs to no one field (a check of
    the options together) is placed at `options`, one in a field at that field's dotted path. Mutant
    `build__mutmut_17`: `OPTIONS`."""
    from forgetscope.restoration.base import RestorerSpec

    with pytest.raises(ValueError, match=r"restorer 'lm_training': options: Value error, continues: the budget must be larger"):
        RestorerSpec(name="lm_training", options={"budget": 1, "continues": True})  # checked as it is built
    with pytest.raises(ValueError, match=r"restorer 'lm_training': budget: Input should be greater than 0"):
        RestorerSpec(name="lm_training", options={"budget": 0})
    # a nested field: its path joined with dots (mutant `build__mutmut_12`: `XX.XX`)
    with pytest.raises(ValueError, match=r"restorer 'lm_training': curve\.1: Input should be less than 1"):
        RestorerSpec(name="lm_training", options={"curve": [0.5, 2]})


def test_fact_world_checkpoints_after_all_are_still_checked():
    """conjugate s3_world_evaluate.chosen_steps: `all` takes every checkpoint and the entries after it
    are still read, so a step the trajectory run does not have is an error wherever it stands.
    Mutant `chosen_steps__mutmut_7` (`break` for `continue`): what follows `all` was never checked."""
    from forgetscope.errors import UserError
    from forgetscope.studies.conjugate.s3_world_evaluate import chosen_steps

    assert chosen_steps(["all", "final", 3], [3, 6], "run") == [3, 6]
    assert chosen_steps([6, "all"], [3, 6, 9], "run") == [3, 6, 9]
    with pytest.raises(UserError, match=r"step 7 is not a checkpoint of run \(its steps: \[3, 6\]\)"):
        chosen_steps(["all", 7], [3, 6], "run")


def test_merged_lora_checkpoints_are_the_base_plus_the_adapter_of_their_step(tmp_path, tiny_world, tiny_lm):
    """trajectory s3_model_finetune._finetune with `lora.save: merged`: each checkpoint is the base with
    that step's adapter merged in (checked against the adapter saved beside it), and training goes on
    after a checkpoint is written. Mutant `_finetune__mutmut_69` (`copy.copy` for `copy.deepcopy`): the
    merge ran on the model being trained, whose adapter was gone after the first checkpoint, so every
    later checkpoint was the first one again; no test fine-tuned with merged LoRA checkpoints. The
    record's keys: `__mutmut_115`, `__116`, `__117` (`RESUMED_FROM`, `XXprocessesXX`, `PROCESSES`)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from forgetscope.execution import Reporter
    from forgetscope.models import load_model, save_model
    from forgetscope.studies.trajectory.config import TrajectoryConfig
    from forgetscope.studies.trajectory.s3_model_finetune import ADAPTER_SIDECAR, _finetune
    from forgetscope.training.checkpoints import step_name
    from forgetscope.training.loop import wrap_lora
    from conftest import SMOKE

    model, tok = tiny_lm
    base = save_model(model, tok, tmp_path / "base")
    train = {"steps": 4, "batch_size": 4, "lr": 1e-2, "lora": {"r": 4, "alpha": 8, "save": "merged"}}
    cfg = TrajectoryConfig.model_validate({**SMOKE, "finetune": {"train": train, "checkpoints": {"steps": [2, 4]}}})
    ctx = SimpleNamespace(cfg=cfg, tokenizer=tok, base_path=str(base), seed=0, steps=[2, 4], reporter=Reporter(None, "test"),
                          load=lambda path: load_model(path), rows=lambda ref, default: tiny_world.ift,
                          label=lambda ref, default: default)
    record = _finetune(ctx, tmp_path / "ft")  # the stage's completion record
    assert (record["checkpoints"], record["resumed_from"], record["processes"]) == ([2, 4], 0, 1)
    weights = {}
    for step in (2, 4):
        ck = tmp_path / "ft" / "checkpoints" / step_name(step)
        want = wrap_lora(load_model(base), cfg.finetune.train, 0)
        set_peft_model_state_dict(want, load_file(str(ck.with_name(ck.name + ADAPTER_SIDECAR))))
        want = want.merge_and_unload().state_dict()
        weights[step] = load_model(ck).state_dict()
        assert (ck / "tokenizer_config.json").exists()  # a model folder any tool can load (mutant `__mutmut_61`: none)
        assert weights[step].keys() == want.keys()
        for k, v in weights[step].items():
            torch.testing.assert_close(v, want[k])
    assert any(not torch.equal(weights[2][k], weights[4][k]) for k in weights[2])  # trained on after step 2


def test_the_gathered_training_log_tells_pre_training_from_fine_tuning(tmp_path):
    """trajectory s7_results_analyze.gather: results/train_log.parquet tags every loss with its seed and
    phase, read from the stage that wrote it (both phases count steps from 1, so without the tag the
    two curves are one); lm-eval's aggregates are gathered too. Mutant `gather__mutmut_75`: the phase
    left out."""
    import pandas as pd

    from forgetscope.store import RunStore
    from forgetscope.studies.trajectory.s7_results_analyze import gather
    from forgetscope.views import BASE_STAGE, EVALUATE_STAGE, FINETUNE_STAGE

    store = RunStore(tmp_path / "run")
    for seed in (0, 1):
        for stage, loss in ((BASE_STAGE, 5.0), (FINETUNE_STAGE, 2.0)):
            folder = store.stage(stage, seed).path
            folder.mkdir(parents=True)
            log = pd.DataFrame({"step": [1, 2], "loss": [loss + seed, loss + seed - 0.5]})
            log.to_parquet(folder / "train_log.parquet", index=False)
    evaluated = store.stage(EVALUATE_STAGE, 0).path
    evaluated.mkdir(parents=True)
    agg = pd.DataFrame([{"seed": 0, "probe": "arc", "metric": "acc", "value": 0.5}])
    agg.to_parquet(evaluated / "step-000000.lm_eval_agg.parquet")
    tables = gather(store, [0, 1])
    got = {(r.seed, r.phase, r.step): r.loss for r in tables["train_log"].itertuples()}
    assert got == {(s, phase, step): loss + s - 0.5 * (step - 1) for s in (0, 1)
                   for phase, loss in (("pretrain", 5.0), ("finetune", 2.0)) for step in (1, 2)}
    # lm-eval's aggregate table, where summary.json's `lm_eval` reads it (mutant `__mutmut_105`: another name)
    assert tables["lm_eval_aggregates"].to_dict("records") == [{"seed": 0, "probe": "arc", "metric": "acc", "value": 0.5}]


def test_a_run_without_pattern_prompts_writes_an_empty_pattern_table_with_its_columns(tmp_path):
    """trajectory s5_pattern_measure._measure with `eval.pattern_prompts: null`: the stage still writes
    `pattern.parquet`, empty but with its columns, which stage 7 gathers into results/pattern_shift.parquet.
    Mutants `_measure__mutmut_16` (written as `PATTERN.PARQUET`: stage 7 finds no table, and the results'
    table has no columns) and `__mutmut_12` (no path: a crash)."""
    import pandas as pd

    from forgetscope.execution import Reporter
    from forgetscope.studies.trajectory.s5_pattern_measure import _measure

    _measure(SimpleNamespace(steps=[3, 6], reporter=Reporter(None, "test"), pattern_prompts={}), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["pattern.parquet"]
    table = pd.read_parquet(tmp_path / "pattern.parquet")
    assert table.empty and list(table.columns) == ["seed", "step", "format"]


def test_regression_fine_tuning_rewrites_a_checkpoint_a_killed_run_left_without_its_state(tmp_path):
    """regression s2_model_finetune._finetune: a run killed after writing a checkpoint's weights but
    before its optimizer state resumes from the start and writes that checkpoint again, the same as an
    uninterrupted run. Mutant `_finetune__mutmut_49` (`save_model` without `replace=True`): the rerun
    stops at FileExistsError, so the run cannot be resumed; the kill test of
    tests/test_regression_study.py kills after the state is saved and does not see it. The record's
    keys: mutant `__mutmut_55` (`SECONDS`)."""
    from safetensors.torch import load_file
    from test_regression_study import tiny

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.regression.config import RegressionConfig
    from forgetscope.studies.regression.context import FINETUNE_STAGE, SeedContext
    from forgetscope.studies.regression.model import build_model, save_model
    from forgetscope.studies.regression.s2_model_finetune import _finetune

    cfg = RegressionConfig.model_validate(tiny())
    contexts = [SeedContext(cfg, RunStore(tmp_path / name), 0, Reporter(None, "test")) for name in ("clean", "killed")]
    for ctx in contexts:
        save_model(build_model(cfg.base.model, cfg.task.d, cfg.n_points, seed=0), ctx.base_path)
    clean, killed = contexts
    stale = killed.model_path(killed.steps[0])  # the weights of a killed run's first checkpoint, no state beside them
    save_model(build_model(cfg.base.model, cfg.task.d, cfg.n_points, seed=1), stale)
    for ctx in contexts:
        record = _finetune(ctx, ctx.stage(FINETUNE_STAGE).path)  # the stage's completion record
        assert record["checkpoints"] == ctx.steps and record["resumed_from"] == 0 and record["seconds"] > 0
    for step in clean.steps:
        a, b = (load_file(str(ctx.model_path(step) / "model.safetensors")) for ctx in contexts)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_fact_world_only_summary_names_the_trajectory_runs_seeds(tmp_path):
    """conjugate s4_results_analyze.analyze without model suites: the summary's seeds are the seeds of
    the fact world's rows (the trajectory run's), not the conjugate config's own seed. Mutant
    `analyze__mutmut_148` (the condition negated): such a summary kept `[cfg.seed]`, 0, which the
    smoke runs' world seed 0 could not tell apart."""
    from test_stage_mutation import _analyze_world, _fact_world_items

    summary = _analyze_world(tmp_path, _fact_world_items().assign(seed=3))
    assert summary.seeds == [3] and summary.fact_world.seeds == [3]


def test_the_regression_training_log_tells_pre_training_from_fine_tuning(tmp_path):
    """regression s4_results_analyze._train_log: every loss row carries its seed and phase (`pretrain`,
    `finetune`: the names the trajectory study's train_log uses too). Mutant `_train_log__mutmut_3`:
    the pre-training rows tagged `PRETRAIN`."""
    import pandas as pd
    from test_regression_study import tiny

    from forgetscope.store import RunStore
    from forgetscope.studies.regression.config import RegressionConfig
    from forgetscope.studies.regression.context import BASE_STAGE, FINETUNE_STAGE
    from forgetscope.studies.regression.s4_results_analyze import _train_log

    cfg = RegressionConfig.model_validate(tiny())
    store = RunStore(tmp_path / "run")
    for seed in cfg.seeds:
        for stage, loss in ((BASE_STAGE, 5.0), (FINETUNE_STAGE, 2.0)):
            folder = store.stage(stage, seed).path
            folder.mkdir(parents=True)
            pd.DataFrame({"step": [1], "loss": [loss + seed]}).to_parquet(folder / "train_log.parquet", index=False)
    got = {(r.seed, r.phase): r.loss for r in _train_log(cfg, store).itertuples()}
    assert got == {(s, phase): loss + s for s in cfg.seeds for phase, loss in (("pretrain", 5.0), ("finetune", 2.0))}
    assert len(cfg.seeds) == 2
    # no log at all: an empty table with the same columns (mutant `__mutmut_31`: `LOSS`)
    empty = _train_log(cfg, RunStore(tmp_path / "empty"))
    assert empty.empty and list(empty.columns) == ["step", "loss", "seed", "phase"]


@pytest.mark.parametrize("change", [{"base__train__steps": 7}, {"base__train__lr": 0.002}, {"base__curriculum": None},
                                    {"base__curriculum__every": 20}])
def test_the_regression_base_cache_key_covers_the_pre_training(change):
    """regression s1_base_pretrain.base_cache_key: a base pre-trained with other steps, learning rate or
    curriculum is another base. Mutant `base_cache_key__mutmut_25`: the pre-training config
    left out of the key (the first pass's test covers the task)."""
    from test_regression_study import tiny

    from forgetscope.studies.regression.config import RegressionConfig
    from forgetscope.studies.regression.context import SeedContext
    from forgetscope.studies.regression.s1_base_pretrain import base_cache_key

    def key(**changes) -> str:
        return base_cache_key(SeedContext(RegressionConfig.model_validate(tiny(**changes)), None, 0, None))

    assert key() == key() and key(**change) != key()


def test_the_regression_base_is_pretrained_on_the_curriculum(tmp_path, monkeypatch):
    """regression s1_base_pretrain._pretrain: with `base.curriculum`, the pre-training batches activate
    `start_dims` dimensions at first and one more every `every` steps, up to d. Mutant
    `_pretrain__mutmut_17` (the curriculum dropped): the base trained on every dimension from step 0,
    another base than the configured one, and no number a test reads showed it."""
    from test_regression_study import tiny

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.regression import s1_base_pretrain
    from forgetscope.studies.regression.config import RegressionConfig
    from forgetscope.studies.regression.context import SeedContext

    seen = []

    class Recording(s1_base_pretrain.RegressionBatches):
        def __init__(self, *args, active_dims=None, **kwargs):
            seen.append(active_dims)
            super().__init__(*args, active_dims=active_dims, **kwargs)

    monkeypatch.setattr(s1_base_pretrain, "RegressionBatches", Recording)
    cfg = RegressionConfig.model_validate(tiny(base__train__steps=2))  # curriculum: 1 dimension, one more every 10 steps
    s1_base_pretrain._pretrain(SeedContext(cfg, RunStore(tmp_path / "run"), 0, Reporter(None, "test")), tmp_path / "base")
    assert len(seen) == 1 and [seen[0](step) for step in (0, 9, 10, 20, 500)] == [1, 1, 2, 3, 3]  # d = 3


def test_model_suites_generate_as_many_tokens_as_their_group_allows(tmp_path, tiny_lm, monkeypatch):
    """conjugate s2_models_evaluate.evaluate_models: every group's probes run with the generation
    settings stage 1 wrote for it (`max_new_tokens`, stop strings, refusal markers). Mutant
    `evaluate_models__mutmut_37`: `max_new_tokens` not passed, so every reply ran to the default 10
    tokens whatever the suite's config said (the smoke runs' random models could not show it)."""
    import json

    from forgetscope.execution import Reporter
    from forgetscope.models import save_model
    from forgetscope.store import RunStore
    from forgetscope.studies.conjugate import s2_models_evaluate
    from forgetscope.studies.conjugate.config import ConjugateConfig
    from forgetscope.studies.conjugate.s1_items_build import build_items

    model, tok = tiny_lm
    path = str(save_model(model, tok, tmp_path / "m"))
    refusal = {"max_new_tokens": 4, "transforms": ["identity"]}
    cfg = ConjugateConfig.model_validate({"study": "conjugate", "tuned": {"kind": "pretrained", "path": path},
                                          "transforms": ["identity"], "refusal": refusal})
    store, reporter, seen = RunStore(tmp_path / "run"), Reporter(None, "test"), []
    build_items(cfg, store, reporter)
    real = s2_models_evaluate.run_probes
    def recording(scorer, items, settings):
        seen.append(settings)
        return real(scorer, items, settings)

    monkeypatch.setattr(s2_models_evaluate, "run_probes", recording)
    s2_models_evaluate.evaluate_models(cfg, store, reporter, "cpu")
    groups = json.loads((store.stage("1_items").path / "groups.json").read_text())
    assert [g["max_new_tokens"] for g in groups] == [4]
    assert [(s.max_new_tokens, list(s.stop), list(s.refusal_markers)) for s in seen] == [
        (g["max_new_tokens"], g["stop"], g["refusal_markers"]) for g in groups]
