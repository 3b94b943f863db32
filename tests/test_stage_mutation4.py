"""Tests written for mutants of the stages, the scorer, the probe runner and restoration that survived
every other test in issue 25's third sampled pass (docs/mutation.md): each fails on the mutant named
in its docstring and passes on the code as it is."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pandas as pd
import pytest


def test_a_continued_restoration_stretches_the_schedule_over_the_extra_budget(monkeypatch):
    """restoration.lm_training.LMTrainingRestorer.continue_restoration: a budget-b restoration that
    continues the budget-1 one trains round((b - 1) × steps) more steps, with the warm-up stretched the
    same way, on the same texts and seed, after the first restoration's steps. Mutants
    `continue_restoration__mutmut_15` (the warm-up under `XXwarmup_stepsXX`: the budget-1 warm-up
    kept, which budget 2 cannot tell apart) and `__mutmut_31` (no train config: a TypeError)."""
    from forgetscope.restoration import lm_training
    from forgetscope.restoration.base import RestoreJob
    from forgetscope.training import TrainConfig

    calls = []

    def restore_by_lm_training(model, tokenizer, texts, cfg, *, seed, on_step=None, after_steps=0):
        calls.append((tokenizer, list(texts), cfg.steps, cfg.warmup_steps, seed, after_steps))
        return model, None

    monkeypatch.setattr(lm_training, "restore_by_lm_training", restore_by_lm_training)
    restorer = lm_training.LMTrainingRestorer(lm_training.LMTrainingRestorer.Options(budget=3, continues=True))
    job = RestoreJob(tokenizer="tok", texts=lambda: ["a", "b"], train=TrainConfig(steps=4, warmup_steps=2), base_path="unused", seed=7)
    assert restorer.continue_restoration("model", job) == "model"
    assert calls == [("tok", ["a", "b"], 8, 4, 7, 4)]


def test_lm_eval_aggregates_carry_the_number_of_documents_lm_eval_reports():
    """trajectory s7_results_analyze.lm_eval_summary: one entry per task, metric, condition and step,
    its value the mean over seeds, each seed's value and stderr, and `n` as lm-eval reports it (None
    where it reports none). Mutant `lm_eval_summary__mutmut_52` (`pd.isna(None)`): every `n` None."""
    from forgetscope.studies.trajectory.s7_results_analyze import lm_eval_summary

    def row(task, seed, value, n):
        return {"probe": task, "metric": "acc", "condition": "checkpoint", "step": 3, "seed": seed, "value": value,
                "stderr": value / 10, "n": n}

    agg = pd.DataFrame([row("arc", 0, 0.5, 100), row("arc", 1, 0.7, 100), row("wiki", 0, 0.25, float("nan"))])
    got = lm_eval_summary(agg, [0, 1])
    assert [(e["task"], e["step"], e["n"]) for e in got] == [("arc", 3, 100), ("wiki", 3, None)]
    assert got[0]["value"] == pytest.approx(0.6) and got[0]["value_by_seed"] == [0.5, 0.7]
    assert got[0]["stderr_by_seed"] == pytest.approx([0.05, 0.07]) and got[1]["value_by_seed"] == [0.25, None]


def test_a_fact_world_checkpoint_at_step_one_is_one_of_its_steps(tmp_path):
    """conjugate s4_results_analyze.analyze: the fact world's `steps` are every checkpoint step of its
    rows, the base (step 0) left out. Mutant `analyze__mutmut_177` (`s > 1`): a trajectory run that
    saved a checkpoint at step 1 lost it from the summary's list (the smoke runs save from step 3)."""
    from test_stage_mutation import _analyze_world, _fact_world_items

    summary = _analyze_world(tmp_path, _fact_world_items(step=1))
    assert summary.fact_world.steps == [1]
    # the languages of the transforms (mutant `analyze__mutmut_182`: `XXidentityXX`)
    assert summary.fact_world.languages == {"identity": "L1", "world_l2": "L2"}


def test_the_fact_world_models_are_loaded_on_the_stages_device(tmp_path, tiny_world, tiny_lm):
    """conjugate s3_world_evaluate.evaluate_fact_world: each checkpoint is loaded on the device the
    stage is given (`runtime.device`). Mutant `evaluate_fact_world__mutmut_38` (`None`): the models
    stayed where load_model leaves them, the CPU, whatever the run's device. The stage record lists its
    units (`__mutmut_115`: `UNITS`)."""
    from test_stage_mutation2 import _TrajectoryRun

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.conjugate.config import ConjugateConfig
    from forgetscope.studies.conjugate.s3_world_evaluate import evaluate_fact_world
    from forgetscope.world.build import write_world

    devices = []

    class Recording(_TrajectoryRun):
        def load_model(self, seed, step, device):
            devices.append((step, device))
            return super().load_model(seed, step, device)

    write_world(tiny_world, tmp_path / "traj" / "world")
    cfg = ConjugateConfig.model_validate({"study": "conjugate", "fact_world": {"run": str(tmp_path / "traj"), "checkpoints": ["all"]}})
    store = RunStore(tmp_path / "run")
    evaluate_fact_world(cfg, store, Recording(tmp_path / "traj", tiny_lm), Reporter(None, "test"), "cpu")
    assert sorted(devices) == [(0, "cpu"), (3, "cpu")]
    # the stage record lists its units (mutant `evaluate_fact_world__mutmut_115`: under `UNITS`)
    record = store.stage("3_fact_world").record()
    assert len(record["units"]) == 2 and set(record["units"]) == set(record["unit_records"])


def test_every_checkpoint_is_loaded_for_probing_and_its_patterns_generated_as_configured(tmp_path, monkeypatch, tiny_lm):
    """trajectory s4_checkpoints_evaluate.evaluate_checkpoints: the base and every checkpoint are loaded
    `for_probing`, so a LoRA run with `lora.evaluate: adapter` scores its checkpoints with the adapter
    unmerged (SeedContext.load); each pattern format's greedy pass generates `eval.pattern_max_new_tokens`
    tokens. Mutants `evaluate_checkpoints__mutmut_12` (`for_probing=False`: the adapter was merged
    whatever `lora.evaluate` said) and `__mutmut_35` (`None` tokens: generate's default length)."""
    from conftest import SMOKE

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.trajectory import s4_checkpoints_evaluate
    from forgetscope.studies.trajectory.config import TrajectoryConfig

    model, tok = tiny_lm
    loaded = []

    def load_step(step, for_probing):
        loaded.append((step, for_probing))
        return model

    def write_evaluation(ctx, scorer, prefix, *, condition, step):
        (prefix.parent / f"{prefix.name}.items.parquet").write_bytes(b"")

    passes = []
    monkeypatch.setattr(s4_checkpoints_evaluate, "write_evaluation", write_evaluation)
    monkeypatch.setattr(s4_checkpoints_evaluate, "checkpoint_pass", lambda scorer, prompts, n, path: passes.append((path.name, n)))
    monkeypatch.setattr(s4_checkpoints_evaluate, "gc", SimpleNamespace(collect=lambda: 0))
    store = RunStore(tmp_path / "run")
    cfg = TrajectoryConfig.model_validate({**SMOKE, "eval": {"pattern_max_new_tokens": 7}})
    ctx = SimpleNamespace(cfg=cfg, stage=lambda name: store.stage(name, 0), steps=[3, 6], load_step=load_step, tokenizer=tok,
                          pattern_prompts={"chat": ["a"]}, reporter=Reporter(None, "test"))
    s4_checkpoints_evaluate.evaluate_checkpoints(ctx)
    assert sorted(loaded) == [(0, True), (3, True), (6, True)]
    assert sorted(passes) == [(f"step-{s:06d}.pattern-chat.safetensors", 7) for s in (0, 3, 6)]


class _Stop(Exception):
    pass


@pytest.mark.parametrize("stage", ["s1_base_pretrain", "s2_model_finetune"])
def test_regression_training_builds_and_trains_its_model_on_the_runs_device(tmp_path, monkeypatch, stage):
    """regression s1_base_pretrain._pretrain and s2_model_finetune._finetune: the model to train is
    built (or loaded) on the seed's device (`runtime.device`) and trained there (here `meta` stands in
    for a GPU; the training itself is not run). Mutants s1 `_pretrain__mutmut_48` (`device` dropped
    from the training: the helper's own choice, CUDA wherever there is one) and `__mutmut_50`
    (`.to(None)`), s2 `_finetune__mutmut_36` (`device` dropped) and `__mutmut_41` (the base loaded on
    the CPU)."""
    import importlib

    import torch
    from test_regression_study import tiny

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.regression.config import RegressionConfig
    from forgetscope.studies.regression.context import FINETUNE_STAGE, SeedContext
    from forgetscope.studies.regression.model import build_model, save_model

    module = importlib.import_module(f"forgetscope.studies.regression.{stage}")
    seen = []

    def train_with_checkpoints(folder, start_model, *args, **kwargs):
        seen.append((next(start_model(None).parameters()).device, kwargs.get("device")))
        raise _Stop

    monkeypatch.setattr(module, "train_with_checkpoints", train_with_checkpoints)
    monkeypatch.setattr(SeedContext, "device", property(lambda self: torch.device("meta")))
    cfg = RegressionConfig.model_validate(tiny())
    ctx = SeedContext(cfg, RunStore(tmp_path / "run"), 0, Reporter(None, "test"))
    save_model(build_model(cfg.base.model, cfg.task.d, cfg.n_points, seed=0), ctx.base_path)
    with pytest.raises(_Stop):
        if stage == "s1_base_pretrain":
            module._pretrain(ctx, tmp_path / "base")
        else:
            module._finetune(ctx, ctx.stage(FINETUNE_STAGE).path)
    assert seen == [(torch.device("meta"), torch.device("meta"))]


def test_the_regression_base_record_holds_its_last_training_loss(tmp_path):
    """regression s1_base_pretrain._pretrain: the stage record's `final_loss` is the loss of the last
    pre-training step, as the loss log has it. Mutant `_pretrain__mutmut_88` (`losses[-2]`)."""
    from test_regression_study import tiny

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.regression.config import RegressionConfig
    from forgetscope.studies.regression.context import SeedContext
    from forgetscope.studies.regression.s1_base_pretrain import _pretrain

    cfg = RegressionConfig.model_validate(tiny(base__train__steps=3))
    ctx = SeedContext(cfg, RunStore(tmp_path / "run"), 0, Reporter(None, "test"))
    folder = ctx.base_path.parent
    record = _pretrain(ctx, folder)
    log = pd.read_parquet(folder / "train_log.parquet")
    assert list(log["step"]) == [1, 2, 3] and len(set(log["loss"])) == 3
    assert record["final_loss"] == log["loss"].iloc[-1]


def test_the_regression_evaluation_record_names_its_steps_and_prompts(tmp_path, monkeypatch):
    """regression s3_checkpoints_evaluate.evaluate_checkpoints: the stage record lists the steps
    evaluated (the base, 0, and every checkpoint) and the prompts drawn per family. Mutant
    `evaluate_checkpoints__mutmut_45` (no record)."""
    from test_regression_study import tiny

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.regression import s3_checkpoints_evaluate as s3
    from forgetscope.studies.regression.config import RegressionConfig
    from forgetscope.studies.regression.context import EVALUATE_STAGE, SeedContext

    one = lambda *args: pd.DataFrame({"x": [1.0]})  # noqa: E731 - the tables are not what this test reads
    monkeypatch.setattr(s3, "baseline_table", one)
    monkeypatch.setattr(s3, "model_table", one)
    cfg = RegressionConfig.model_validate(tiny(finetune__train__steps=4, finetune__checkpoints__steps=[2, 4], eval__prompts=12))
    ctx = SeedContext(cfg, RunStore(tmp_path / "run"), 0, Reporter(None, "test"))
    s3.evaluate_checkpoints(ctx)
    record = ctx.stage(EVALUATE_STAGE).record()
    assert (record["steps"], record["prompts_per_family"]) == ([0, 2, 4], 12)


def test_the_trajectory_base_record_holds_its_processes_and_last_loss(tmp_path, tiny_world):
    """trajectory s2_base_pretrain._pretrain: the stage record says how many processes trained the base
    and the loss of its last step, as the loss log has it, and the seconds it took. Mutants
    `_pretrain__mutmut_80` (`PROCESSES`), `__mutmut_81` (`XXfinal_lossXX`), `__mutmut_75` and `__mutmut_76`
    (`XXsecondsXX`, `SECONDS`)."""
    from conftest import SMOKE, with_changes

    from forgetscope.execution import Reporter
    from forgetscope.studies.trajectory.config import TrajectoryConfig
    from forgetscope.studies.trajectory.s2_base_pretrain import _pretrain

    cfg = TrajectoryConfig.model_validate(with_changes(copy.deepcopy(SMOKE), base__train__steps=2))
    ctx = SimpleNamespace(cfg=cfg, tokenizer=tiny_world.tokenizer(), rows=lambda ref, default: tiny_world.pretrain,
                          world_seed=0, device="cpu", reporter=Reporter(None, "test"))
    record = _pretrain(ctx, tmp_path / "base")
    log = pd.read_parquet(tmp_path / "base" / "train_log.parquet")
    assert list(log["step"]) == [1, 2] and (tmp_path / "base" / "model").is_dir()
    assert (record["processes"], record["final_loss"]) == (1, log["loss"].iloc[-1]) and record["seconds"] > 0


def test_the_trajectory_base_names_a_pretraining_file_not_in_the_text_format(tiny_world):
    """trajectory s2_base_pretrain._pretrain: pre-training rows that are not `text` rows are refused,
    the error naming the world's pretrain.jsonl. Mutant `_pretrain__mutmut_17` (`PRETRAIN.JSONL`)."""
    from conftest import SMOKE

    from forgetscope.errors import UserError
    from forgetscope.execution import Reporter
    from forgetscope.studies.trajectory.config import TrajectoryConfig
    from forgetscope.studies.trajectory.s2_base_pretrain import _pretrain

    ctx = SimpleNamespace(cfg=TrajectoryConfig.model_validate(SMOKE), tokenizer=tiny_world.tokenizer(),
                          rows=lambda ref, default: [{"prompt": "a", "completion": "b"}], world_seed=0, device="cpu",
                          reporter=Reporter(None, "test"))
    with pytest.raises(UserError, match=r"^pretrain\.jsonl: LM training \(restoration, pre-training\) needs the 'text' format"):
        _pretrain(ctx, "unused")


def test_interpolation_moves_the_base_weights_to_each_parameters_device(tmp_path):
    """restoration.interpolation.interpolate_toward_base: each base tensor is read on the CPU and moved
    to its parameter's device and dtype before the interpolation (here the `meta` device stands in for
    a GPU: a CPU tensor cannot meet a parameter there). Mutant `interpolate_toward_base__mutmut_31`
    (`.to(None, p.dtype)`): on a GPU, a RuntimeError for every interpolated checkpoint."""
    import torch
    from safetensors.torch import save_file

    from forgetscope.restoration import interpolate_toward_base

    base = torch.nn.Linear(3, 2)
    (tmp_path / "base").mkdir()
    save_file({k: v.detach().clone() for k, v in base.state_dict().items()}, tmp_path / "base" / "model.safetensors")
    model = torch.nn.Linear(3, 2, device="meta", dtype=torch.float16)
    model.config = SimpleNamespace(tie_word_embeddings=False)
    interpolate_toward_base(model, tmp_path / "base", 0.5)
    assert {(p.device.type, p.dtype) for p in model.parameters()} == {("meta", torch.float16)}


def test_the_restore_stage_writes_its_curve_and_evaluates_a_continued_restorer_at_its_step(tmp_path, monkeypatch, tiny_world, tiny_lm):
    """trajectory s6_checkpoints_restore.restore_checkpoints: a restorer's curve file holds the curve's
    columns and nothing else (mutant `restore_checkpoints__mutmut_91`, `to_parquet(index=True)`: one
    more column, `__index_level_0__`, for any reader but pandas), and a restorer that continues the
    budget-1 one is evaluated at the checkpoint's step under its own condition (mutant `__mutmut_136`:
    no step, a TypeError for every continued restorer). The stage record lists its units."""
    import pyarrow.parquet as pq
    from conftest import SMOKE

    from forgetscope.evaluation.items import load_items
    from forgetscope.evaluation.probe_runner import ProbeSettings
    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.trajectory import s6_checkpoints_restore as s6
    from forgetscope.studies.trajectory.config import TrajectoryConfig
    from forgetscope.world.build import write_world

    model, tok = tiny_lm
    evaluated = []
    monkeypatch.setattr(s6, "write_evaluation", lambda ctx, scorer, prefix, *, condition, step: evaluated.append((prefix.name, condition, step)))
    restorers = [{"name": "lm_training", "options": {"curve": [0.5]}}, {"name": "lm_training", "options": {"budget": 2, "continues": True}}]
    cfg = TrajectoryConfig.model_validate({**SMOKE, "restore": {"train": {"steps": 2, "batch_size": 4, "max_length": 32}, "restorers": restorers}})
    write_world(tiny_world, tmp_path / "world")
    primary = [it for it in load_items(tmp_path / "world" / "probes.jsonl") if it.probe == cfg.analysis.primary_probe]
    ctx = SimpleNamespace(cfg=cfg, seed=0, steps=[3], tokenizer=tok, probe_items=primary, heldout_rows=[], probe_settings=ProbeSettings(),
                          base_path="unused", reporter=Reporter(None, "test"), stage=RunStore(tmp_path / "run").stage,
                          rows=lambda ref, default: tiny_world.restore, label=lambda ref, default: default,
                          load_step=lambda step: copy.deepcopy(model))
    s6.restore_checkpoints(ctx)
    conditions = [r.condition for r in s6.build_restorers(cfg.restore.restorers)]
    assert sorted(evaluated) == sorted((f"{c}-step-{s:06d}", c, s) for c in conditions for s in (0, 3))
    record = ctx.stage(s6.RESTORE_STAGE).record()  # lists its units (mutant `__mutmut_150`: no record)
    assert sorted(record["units"]) == sorted(f"{c}-step-{s:06d}" for c in conditions[:1] for s in (0, 3))
    curves = sorted((tmp_path / "run").rglob("*.curve.parquet"))
    assert len(curves) == 2
    for f in curves:
        assert pq.read_schema(f).names == ["seed", "condition", "step", "fraction", "restore_step", "item_id", "probe", "score"]


def test_the_fine_tuning_record_holds_the_training_speed(tmp_path, tiny_world, tiny_lm):
    """trajectory s3_model_finetune._finetune: the stage record holds the checkpoints, the seconds and
    tokens a second the training took, the step it resumed from and the processes. Mutant
    `_finetune__mutmut_112` (`XXtokens_per_secondXX`); a full fine-tuning's checkpoint is saved with
    the tokenizer (`__mutmut_81`: None)."""
    from conftest import SMOKE

    from forgetscope.execution import Reporter
    from forgetscope.models import load_model, save_model
    from forgetscope.studies.trajectory.config import TrajectoryConfig
    from forgetscope.studies.trajectory.s3_model_finetune import _finetune

    model, tok = tiny_lm
    base = save_model(model, tok, tmp_path / "base")
    cfg = TrajectoryConfig.model_validate({**SMOKE, "finetune": {"train": {"steps": 2, "batch_size": 4}, "checkpoints": {"steps": [2]}}})
    ctx = SimpleNamespace(cfg=cfg, tokenizer=tok, base_path=str(base), seed=0, steps=[2], reporter=Reporter(None, "test"),
                          load=lambda path: load_model(path), rows=lambda ref, default: tiny_world.ift,
                          label=lambda ref, default: default)
    record = _finetune(ctx, tmp_path / "ft")
    assert set(record) == {"checkpoints", "seconds", "tokens_per_second", "resumed_from", "processes"}
    assert record["checkpoints"] == [2] and record["tokens_per_second"] > 0 and record["seconds"] > 0
    # the checkpoint is a model folder any tool can load: with its tokenizer (mutant `__mutmut_81`: None)
    assert (tmp_path / "ft" / "checkpoints" / "step-000002" / "tokenizer_config.json").is_file()


def test_a_pretrained_base_stage_records_the_model_it_names(tmp_path, tiny_lm):
    """trajectory s2_base_pretrain.pretrain_base with `base.kind: pretrained`: nothing is trained; the
    stage checks the folder and records the model it names. Mutant `pretrain_base__mutmut_6`
    (`XXmodelXX`)."""
    from conftest import SMOKE

    from forgetscope.execution import Reporter
    from forgetscope.models import save_model
    from forgetscope.models.spec import ModelSpec
    from forgetscope.store import RunStore
    from forgetscope.studies.trajectory.config import TrajectoryConfig
    from forgetscope.studies.trajectory.s2_base_pretrain import pretrain_base
    from forgetscope.views import BASE_STAGE

    model, tok = tiny_lm
    folder = str(save_model(model, tok, tmp_path / "model"))
    # (a config with a pretrained base must name its own data files; the stage reads only `base`)
    cfg = TrajectoryConfig.model_validate(SMOKE).model_copy(update={"base": ModelSpec(path=folder)})
    store = RunStore(tmp_path / "run")
    pretrain_base(SimpleNamespace(cfg=cfg, stage=lambda name: store.stage(name, 0), tokenizer=tok, reporter=Reporter(None, "test")))
    record = store.stage(BASE_STAGE, 0).record()
    assert (record["model"], record["pretrained"]) == (folder, True)


def test_lm_training_restoration_trains_on_the_models_device(monkeypatch, tiny_lm):
    """restoration.lm_training.restore_by_lm_training: the restoration trains where the model lives
    (here `meta` stands in for a GPU; the training itself is not run). Mutant
    `restore_by_lm_training__mutmut_26` (second pass, judged equivalent then: `device = None`, the
    training helper's own choice, CUDA wherever there is one)."""
    import torch

    from forgetscope import training
    from forgetscope.restoration import lm_training
    from forgetscope.training import TrainConfig

    model, tok = tiny_lm
    devices = []

    def train(model, batches, cfg, *, device, **kwargs):
        devices.append(device)
        raise _Stop

    monkeypatch.setattr(training, "train", train)  # imported when a restoration runs
    with pytest.raises(_Stop):
        lm_training.restore_by_lm_training(copy.deepcopy(model).to("meta"), tok, ["a b c"] * 8, TrainConfig(steps=1, max_length=16), seed=0)
    assert devices == [torch.device("meta")]


def test_regression_predictions_run_on_the_runs_device(tmp_path, monkeypatch):
    """regression s3_checkpoints_evaluate.model_table: a checkpoint is loaded on the seed's device and
    its prompts sent there (here `meta` stands in for a GPU; no prediction is made). Mutant
    `model_table__mutmut_15` (second pass, judged equivalent then: `predict(…, None)`, the prompts left
    on the CPU, a RuntimeError on a GPU)."""
    import torch
    from test_regression_study import tiny

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.regression import s3_checkpoints_evaluate as s3
    from forgetscope.studies.regression.config import RegressionConfig
    from forgetscope.studies.regression.context import SeedContext
    from forgetscope.studies.regression.model import build_model, save_model

    devices = []

    def predict(model, xs, ys, gamma, batch_size, device):
        devices.append((next(model.parameters()).device, device))
        raise _Stop

    monkeypatch.setattr(s3, "predict", predict)
    monkeypatch.setattr(SeedContext, "device", property(lambda self: torch.device("meta")))
    cfg = RegressionConfig.model_validate(tiny(eval__prompts=12))
    ctx = SeedContext(cfg, RunStore(tmp_path / "run"), 0, Reporter(None, "test"))
    save_model(build_model(cfg.base.model, cfg.task.d, cfg.n_points, seed=0), ctx.base_path)
    with pytest.raises(_Stop):
        s3.model_table(ctx, s3.eval_prompts(ctx), 0)
    assert devices == [(torch.device("meta"), torch.device("meta"))]


def _finetune_ctx(tmp_path, tiny_world, tiny_lm, train: dict, steps: list[int]):
    from conftest import SMOKE

    from forgetscope.execution import Reporter
    from forgetscope.models import load_model, save_model
    from forgetscope.studies.trajectory.config import TrajectoryConfig

    model, tok = tiny_lm
    base = save_model(model, tok, tmp_path / "base", replace=True)
    cfg = TrajectoryConfig.model_validate({**SMOKE, "finetune": {"train": train, "checkpoints": {"steps": steps}}})
    return SimpleNamespace(cfg=cfg, tokenizer=tok, base_path=str(base), seed=0, steps=steps, reporter=Reporter(None, "test"),
                           load=lambda path: load_model(path), rows=lambda ref, default: tiny_world.ift,
                           label=lambda ref, default: default)


def test_adapter_checkpoints_name_the_base_they_belong_on(tmp_path, tiny_world, tiny_lm):
    """trajectory s3_model_finetune._finetune with `lora.save: adapter`: each checkpoint is a PEFT
    adapter folder whose config names the base by its absolute path, saved with the tokenizer. Mutant
    `_finetune__mutmut_38` (`XXadapterXX`): merged checkpoints instead, whatever `lora.save` said."""
    import json

    from forgetscope.studies.trajectory.s3_model_finetune import _finetune

    train = {"steps": 2, "batch_size": 4, "lr": 1e-2, "lora": {"r": 4, "alpha": 8, "save": "adapter"}}
    ctx = _finetune_ctx(tmp_path, tiny_world, tiny_lm, train, [2])
    _finetune(ctx, tmp_path / "ft")
    checkpoint = tmp_path / "ft" / "checkpoints" / "step-000002"
    adapter = json.loads((checkpoint / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str((tmp_path / "base").resolve())
    assert (checkpoint / "tokenizer_config.json").is_file()  # a folder any tool can load


@pytest.mark.parametrize("lora", [None, {"r": 4, "alpha": 8, "save": "merged"}])
def test_a_fine_tuning_killed_after_a_checkpoint_resumes_from_it(tmp_path, monkeypatch, tiny_world, tiny_lm, lora):
    """trajectory s3_model_finetune._finetune killed after its first checkpoint: the rerun loads that
    checkpoint's weights (with `lora.save: merged`, puts its adapter, the sidecar, back on the base)
    and trains on to the same last checkpoint as a run never killed. Mutants `_finetune__mutmut_31`
    (`load_weights_into(None, …)`) and `__mutmut_25` (`set_peft_model_state_dict(None, …)`): such a
    run could never resume."""
    from safetensors.torch import load_file

    from forgetscope.store import stop
    from forgetscope.studies.trajectory.s3_model_finetune import _finetune

    train = {"steps": 4, "batch_size": 4, "lr": 1e-2, "lora": lora}
    ctx = _finetune_ctx(tmp_path, tiny_world, tiny_lm, train, [2, 4])
    assert _finetune(ctx, tmp_path / "clean")["resumed_from"] == 0

    def point(name):
        if name.startswith("checkpoint:") and name.endswith("step-000002"):  # its weights, sidecar and state written
            raise _Stop

    monkeypatch.setattr(stop, "point", point)
    with pytest.raises(_Stop):
        _finetune(ctx, tmp_path / "killed")
    monkeypatch.setattr(stop, "point", lambda name: None)
    assert _finetune(ctx, tmp_path / "killed")["resumed_from"] == 2
    a, b = (load_file(str(tmp_path / run / "checkpoints" / "step-000004" / "model.safetensors")) for run in ("clean", "killed"))
    assert a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)


def _close(a, b) -> bool:
    import torch

    return torch.allclose(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("lora", [None, {"r": 4, "alpha": 8, "save": "adapter"}])
def test_a_sharded_runs_gathered_state_is_what_a_checkpoint_saves(tmp_path, monkeypatch, tiny_world, tiny_lm, lora):
    """trajectory s3_model_finetune._finetune: a checkpoint of a full fine-tuning, or an adapter
    checkpoint, is saved from the state dict the training helper gathered (FSDP: the shards put
    together; None on one process). Mutant `_finetune__mutmut_57` (`state_dict` dropped from the
    adapter's save): a sharded run saved its local shard."""
    from forgetscope.studies.trajectory import s3_model_finetune as s3

    gathered, saved = {"weight": "gathered"}, []

    def train_with_checkpoints(folder, start_model, batches, cfg, steps, *, save_checkpoint, **kwargs):
        save_checkpoint(start_model(None), folder / "step-000002", gathered)
        return SimpleNamespace(seconds=1.0, tokens_per_second=1.0, processes=2), 0

    monkeypatch.setattr(s3, "train_with_checkpoints", train_with_checkpoints)
    monkeypatch.setattr(s3, "save_model", lambda m, tok, target, **kwargs: saved.append(kwargs))
    ctx = _finetune_ctx(tmp_path, tiny_world, tiny_lm, {"steps": 2, "batch_size": 4, "lora": lora}, [2])
    s3._finetune(ctx, tmp_path / "ft")
    assert saved == [{"replace": True, "state_dict": gathered}]


def test_lm_training_restoration_trains_in_its_own_process_under_a_launcher(monkeypatch, tiny_lm):
    """restoration.lm_training.restore_by_lm_training where a launcher's variables are set: each
    restoration trains in this process alone (restorations are units the group's processes share out),
    never as a DDP job of the group. Mutant `restore_by_lm_training__mutmut_34` (`local=None`): the
    training builds an Accelerator, which joins the group (here it fails at once)."""
    from test_stage_mutation3 import _in_a_launched_group

    from forgetscope.restoration.lm_training import restore_by_lm_training
    from forgetscope.training import TrainConfig

    model, tok = tiny_lm
    _in_a_launched_group(monkeypatch, rank=1)
    restored, result = restore_by_lm_training(copy.deepcopy(model), tok, ["a b c d"] * 8, TrainConfig(steps=1, max_length=16), seed=0)
    assert result.processes == 1 and len(result.losses) == 1


def test_the_world_stage_builds_the_world_of_the_world_seed(tmp_path):
    """trajectory s1_world_generate.generate_world: the world written is the one the world seed
    (`base_seed`, else the run seed) gives. Mutant `generate_world__mutmut_13` (seed None): another,
    fixed world for every seed."""
    from conftest import SMOKE

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.trajectory.s1_world_generate import generate_world
    from forgetscope.views import WORLD_STAGE
    from forgetscope.world.build import build_world, write_world
    from forgetscope.world.config import WorldConfig

    cfg = SimpleNamespace(uses_world=True, world=WorldConfig.model_validate(SMOKE["world"]))
    store = RunStore(tmp_path / "run")
    generate_world(SimpleNamespace(cfg=cfg, world_seed=3, reporter=Reporter(None, "test"), stage=store.stage))
    write_world(build_world(cfg.world, 3), tmp_path / "want")
    got = store.stage(WORLD_STAGE).path
    assert (got / "pretrain.jsonl").read_bytes() == (tmp_path / "want" / "pretrain.jsonl").read_bytes()
    assert (got / "probes.jsonl").read_bytes() == (tmp_path / "want" / "probes.jsonl").read_bytes()


def test_a_continued_restorer_says_how_much_more_it_trains():
    """restoration.lm_training.LMTrainingRestorer.describe: a restorer of budget b that continues the
    budget-1 one says it trains b - 1 budgets more (the description the report and summary.json give).
    Mutant `describe__mutmut_10` (`b + 1`)."""
    from forgetscope.restoration.lm_training import LMTrainingRestorer

    text = LMTrainingRestorer(LMTrainingRestorer.Options(budget=3, continues=True)).describe()
    assert text == ("LM training on restoration text (3 times the budget of restore.train, for every checkpoint and the base; "
                    "the budget-1 run continued for 2 more, with a schedule of its own)")


def test_a_continued_restoration_trains_on_the_batches_after_the_first_runs(monkeypatch):
    """restoration.lm_training.restore_by_lm_training with `after_steps`: the continued run's step s
    takes the batch of step s + after_steps of the same seed's order. Mutant
    `restore_by_lm_training__mutmut_11` (`batches = None`): every continuation failed."""
    from forgetscope import training
    from forgetscope.restoration.lm_training import restore_by_lm_training
    from forgetscope.training import LMBatches, TrainConfig
    from conftest import _tiny_world

    tok, texts = _tiny_world().tokenizer(), [r["text"] for r in _tiny_world().restore]
    seen = []

    def train(model, batches, cfg, **kwargs):
        seen.append([batches.global_indices(s, 4) for s in range(3)])
        raise _Stop

    monkeypatch.setattr(training, "train", train)
    with pytest.raises(_Stop):
        restore_by_lm_training(_linear(), tok, texts, TrainConfig(steps=3, max_length=32), seed=0, after_steps=2)
    order = LMBatches(texts, tok, 32, seed=0)
    assert seen == [[order.global_indices(s, 4) for s in (2, 3, 4)]]


def _linear():
    import torch

    return torch.nn.Linear(2, 2)


def test_the_pattern_table_holds_its_columns_and_the_base_is_scored_at_the_configured_batch_size(tmp_path, monkeypatch, tiny_lm):
    """trajectory s5_pattern_measure._measure: the base's scorer uses `eval.batch_size` (mutant
    `_measure__mutmut_32`: the default, 64, which equals the smoke config's) and pattern.parquet holds
    one row per step and format with only its columns (`__mutmut_60`, and `__mutmut_25` for the empty
    table: `to_parquet(index=True)`, one more column, `__index_level_0__`, for any reader but pandas)."""
    import pyarrow.parquet as pq
    from conftest import SMOKE

    from forgetscope.execution import Reporter
    from forgetscope.studies.trajectory import s5_pattern_measure as s5
    from forgetscope.studies.trajectory.config import TrajectoryConfig

    model, tok = tiny_lm
    sizes = []

    class Scorer:
        def __init__(self, model, tokenizer, batch_size=64):
            sizes.append(batch_size)

    monkeypatch.setattr(s5, "NativeScorer", Scorer)
    monkeypatch.setattr(s5, "base_pass", lambda scorer, stored: {"shift": 0.5})
    cfg = TrajectoryConfig.model_validate({**SMOKE, "eval": {"batch_size": 5}})
    ctx = SimpleNamespace(cfg=cfg, seed=0, steps=[3], pattern_prompts={"chat": ["a"]}, base_path="base", tokenizer=tok,
                          load=lambda path: model, stage=lambda name: SimpleNamespace(path=tmp_path / "evaluate"),
                          reporter=Reporter(None, "test"))
    s5._measure(ctx, tmp_path)
    assert sizes == [5]
    assert pq.read_schema(tmp_path / "pattern.parquet").names == ["seed", "step", "format", "shift"]
    assert pd.read_parquet(tmp_path / "pattern.parquet").to_dict("records") == [
        {"seed": 0, "step": s, "format": "chat", "shift": 0.5} for s in (0, 3)]
    # `eval.pattern_prompts: null`: the empty table, its columns only (mutant `__mutmut_25`: `index=True`)
    s5._measure(SimpleNamespace(**{**vars(ctx), "pattern_prompts": {}}), tmp_path / "empty")
    assert pq.read_schema(tmp_path / "empty" / "pattern.parquet").names == ["seed", "step", "format"]


def test_interpolation_names_the_first_three_weights_the_base_lacks():
    """restoration.interpolation.interpolate_toward_base: a base without some of the model's weights is
    refused, naming the first three it lacks. Mutant `interpolate_toward_base__mutmut_46` (four)."""
    import tempfile
    from pathlib import Path

    import torch
    from safetensors.torch import save_file

    from forgetscope.errors import UserError
    from forgetscope.restoration import interpolate_toward_base

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    model.config = SimpleNamespace(tie_word_embeddings=False)
    with tempfile.TemporaryDirectory() as d:
        save_file({"other": torch.zeros(1)}, Path(d) / "model.safetensors")
        with pytest.raises(UserError, match=r"base lacks weights \['0\.weight', '0\.bias', '1\.weight'\]\.\.\. "):
            interpolate_toward_base(model, d, 0.5)


def test_pretrained_bases_are_cached_under_bases(tmp_path, tiny_world):
    """trajectory s2_base_pretrain.pretrain_base: a pre-trained base goes to the cache's `bases/<key>`
    (docs/fact-world.md: `$FORGETSCOPE_CACHE/bases/<hash>`), where the next run with the same key takes
    it from. Mutant `pretrain_base__mutmut_23` (`XXbasesXX`): another folder, so the bases already in
    the documented place were never found again."""
    from conftest import SMOKE, with_changes

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.trajectory.config import TrajectoryConfig
    from forgetscope.studies.trajectory.s2_base_pretrain import base_cache_key, pretrain_base
    from forgetscope.views import BASE_STAGE
    from forgetscope.world.build import write_world

    write_world(tiny_world, tmp_path / "world")
    tiny_world.tokenizer().save_pretrained(tmp_path / "world" / "tokenizer")
    cfg = TrajectoryConfig.model_validate(with_changes(copy.deepcopy(SMOKE), base__train__steps=2, runtime__cache_dir=str(tmp_path / "cache")))
    store = RunStore(tmp_path / "run")
    ctx = SimpleNamespace(cfg=cfg, tokenizer=tiny_world.tokenizer(), rows=lambda ref, default: tiny_world.pretrain, world_seed=0,
                          world_dir=tmp_path / "world", device="cpu", reporter=Reporter(None, "test"), stage=lambda name: store.stage(name, 0))
    pretrain_base(ctx)
    assert store.stage(BASE_STAGE, 0).record()["from_cache"] is False
    assert (tmp_path / "cache" / "bases" / base_cache_key(ctx) / "model").is_dir()


def test_the_items_stage_writes_the_refusal_suites_rule(tmp_path):
    """conjugate s1_items_build._build: groups.json names each group's rule, the refusal suite's
    configured one (`keywords`, the only rule there is yet); a suite without one has none. Mutants
    `_build__mutmut_44`, `__mutmut_54`, `__mutmut_56` (rule read from None, `suite.XXcfgXX`, `XXruleXX`)
    and the second pass's `__mutmut_55` (`suite.CFG`): null for every group, which stage 2 then read
    as `keywords` too (judged equivalent before; the file said otherwise than the config)."""
    import json

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.conjugate.config import ConjugateConfig
    from forgetscope.studies.conjugate.s1_items_build import build_items

    cfg = ConjugateConfig.model_validate({"study": "conjugate", "tuned": {"kind": "pretrained", "path": "unused"},
                                          "transforms": ["identity"], "refusal": {"transforms": ["identity"]},
                                          "reasoning": {"transforms": ["identity"]}})
    store = RunStore(tmp_path / "run")
    build_items(cfg, store, Reporter(None, "test"))
    groups = json.loads((store.stage("1_items").path / "groups.json").read_text())
    assert {(g["suite"], g["rule"]) for g in groups} == {("refusal", "keywords"), ("reasoning", None)}
