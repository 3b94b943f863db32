"""Tests written for the mutants of the study stages that issue 25's second sampled pass left without a
test (docs/mutation.md, "Left"): each fails on the mutant named in its docstring and passes on the code
as it is. The launched-group ones start no process: they make forgetscope believe it is one process
of a group of two (the launcher's environment variables) and replace the group's collectives."""

from __future__ import annotations

from types import SimpleNamespace

import pytest


def _in_a_launched_group(monkeypatch, rank: int) -> None:
    """This process as process `rank` of a launched group of two, with nothing that joins the group
    left reachable: accelerate's process group (`distributed._state`) and a training Accelerator
    (which would join the group's DDP job) fail at once instead of waiting for a process that is not there."""
    from forgetscope import distributed
    from forgetscope.training import loop

    for name, value in (("WORLD_SIZE", "2"), ("RANK", str(rank)), ("LOCAL_RANK", str(rank))):
        monkeypatch.setenv(name, value)
    assert distributed.launched() and distributed.is_main() == (rank == 0)

    def joined(*args, **kwargs):
        raise AssertionError("joined the launched group's process group")

    monkeypatch.setattr(distributed, "_state", joined)
    monkeypatch.setattr(loop, "Accelerator", joined)


def test_regression_seeds_train_in_their_own_process_under_a_launcher(tmp_path, monkeypatch):
    """regression s1_base_pretrain._pretrain and s2_model_finetune._finetune where a launcher's variables
    are set: each seed's base and fine-tuning train in this process alone, never as a DDP job of a group
    (the study itself refuses a launcher before any compute, tests/test_launch_refusal.py; this guards
    the stages). Mutants `_pretrain__mutmut_35` and the like, `_finetune__mutmut_35`, `__mutmut_51`
    (`local=None`, `local` dropped, `local=False`): the training builds an Accelerator, which joins
    the group (here it fails at once; under a real launcher the group would not agree)."""
    from test_regression_study import tiny

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.regression.config import RegressionConfig
    from forgetscope.studies.regression.context import FINETUNE_STAGE, SeedContext
    from forgetscope.studies.regression.s1_base_pretrain import _pretrain
    from forgetscope.studies.regression.s2_model_finetune import _finetune

    _in_a_launched_group(monkeypatch, rank=0)
    cfg = RegressionConfig.model_validate(tiny(base__train__steps=4, finetune__train__steps=4,
                                                finetune__checkpoints__steps=[2, 4]))
    ctx = SeedContext(cfg, RunStore(tmp_path / "run"), 0, Reporter(None, "test"))
    base = ctx.base_path.parent
    record = _pretrain(ctx, base)
    assert (base / "model").is_dir() and (base / "train_log.parquet").is_file() and record["final_loss"] > 0
    record = _finetune(ctx, ctx.stage(FINETUNE_STAGE).path)
    assert record["checkpoints"] == [2, 4] and all(ctx.model_path(s).is_dir() for s in (2, 4))


def test_a_launched_group_pretrains_the_trajectory_base_as_one_job(tmp_path, monkeypatch):
    """trajectory s2_base_pretrain.pretrain_base under a launcher: the whole group pre-trains the base
    together (one DDP job); the main process holds the stage, decides and writes, and every other
    process takes its word and joins the training. Seen from process 1 while the main process holds
    the stage's lock: it joins the pre-training at once, meets the group before and after it, and
    writes no record. Mutant `pretrain_base__mutmut_47` (`together=False`): process 1 waits for the
    stage's lock, which the main process keeps until the group's training ends, so neither goes on
    (the launched test in tests/test_distributed.py did not finish on it)."""
    from conftest import SMOKE

    from forgetscope import cache
    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore, run_store
    from forgetscope.studies import stages
    from forgetscope.studies.trajectory import s2_base_pretrain
    from forgetscope.studies.trajectory.config import TrajectoryConfig
    from forgetscope.views import BASE_STAGE

    _in_a_launched_group(monkeypatch, rank=1)
    events = []
    # the main process's answers, in the order the group asks: the stage is not done; it runs the stage; no cached base
    main_says = [False, True, None]

    def from_main(value):
        events.append("from_main")
        assert value is None  # only the main process's value counts
        return main_says.pop(0)

    class NoWaiting:  # run_store's `time`, whose sleep is a wait for a lock another process holds
        def __getattr__(self, name):
            return getattr(__import__("time"), name)

        def sleep(self, seconds):
            raise AssertionError("waited for the stage's lock, which the main process holds while the group trains")

    monkeypatch.setattr(stages, "from_main", from_main)
    monkeypatch.setattr(cache, "from_main", from_main)
    monkeypatch.setattr(stages, "barrier", lambda: events.append("barrier"))
    monkeypatch.setattr(run_store, "time", NoWaiting())
    monkeypatch.setattr(s2_base_pretrain, "base_cache_key", lambda ctx: "key")
    monkeypatch.setattr(s2_base_pretrain, "_pretrain", lambda ctx, folder: events.append("pretrain") or {})
    store = RunStore(tmp_path / "run")
    ctx = SimpleNamespace(cfg=TrajectoryConfig.model_validate(SMOKE), stage=lambda name: store.stage(name, 0),
                          reporter=Reporter(None, "test"))
    stage = ctx.stage(BASE_STAGE)
    with stage.claim("_stage") as held:  # the main process holds the stage
        assert held
        s2_base_pretrain.pretrain_base(ctx)
    assert events == ["from_main", "barrier", "from_main", "from_main", "pretrain", "barrier"] and not main_says
    assert not stage.done and [p.name for p in stage.path.iterdir()] == []


def test_the_evaluation_stage_record_lists_the_steps_it_evaluated(tmp_path, monkeypatch, tiny_lm):
    """trajectory s4_checkpoints_evaluate.evaluate_checkpoints: the stage's record lists the steps it
    evaluated (the base, 0, and every fine-tuning checkpoint), the same as the units it ran. Mutant
    `evaluate_checkpoints__mutmut_58`: the list under `STEPS`."""
    from conftest import SMOKE

    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.trajectory import s4_checkpoints_evaluate
    from forgetscope.studies.trajectory.config import TrajectoryConfig
    from forgetscope.views import EVALUATE_STAGE

    model, tok = tiny_lm
    evaluated = []

    def write_evaluation(ctx, scorer, prefix, *, condition, step):
        evaluated.append(step)
        (prefix.parent / f"{prefix.name}.items.parquet").write_bytes(b"")

    monkeypatch.setattr(s4_checkpoints_evaluate, "write_evaluation", write_evaluation)
    # the collection after each unit: 0.5 s in a test process's heap, and memory is not what this test reads
    monkeypatch.setattr(s4_checkpoints_evaluate, "gc", SimpleNamespace(collect=lambda: 0))
    store = RunStore(tmp_path / "run")
    ctx = SimpleNamespace(cfg=TrajectoryConfig.model_validate(SMOKE), stage=lambda name: store.stage(name, 0), steps=[3, 6, 9],
                          load_step=lambda step, for_probing: model, tokenizer=tok, pattern_prompts={},
                          reporter=Reporter(None, "test"))
    s4_checkpoints_evaluate.evaluate_checkpoints(ctx)
    assert sorted(evaluated) == [0, 3, 6, 9]
    assert store.stage(EVALUATE_STAGE, 0).record()["steps"] == sorted(evaluated)


def test_each_translation_model_is_unloaded_once_its_items_are_built(tmp_path, monkeypatch):
    """conjugate s1_items_build._build: a model-backed transform (mt_model) translates its suite's items
    once and is unloaded before the next transform is built, so at most one translation model is in
    memory and none is left when the stage ends. Mutant `_build__mutmut_77` (`hasattr(transform,
    "UNLOAD")`, never true): every translation model stayed loaded until the stage ended. The real
    transform class; its model folder check and its model are stand-ins (a tag, upper-casing)."""
    import json

    from forgetscope.execution import Reporter
    from forgetscope.studies.conjugate.config import ConjugateConfig
    from forgetscope.studies.conjugate.s1_items_build import _build
    from forgetscope.transforms.mt_model import MTModelTranslation

    built, peak = [], []

    def load(self):
        if self._model is None:
            if self not in built:
                built.append(self)
            self._model = self._tokenizer = f"model in {self.path.name}"
        peak.append(sum(t._model is not None for t in built))

    def translate(self, batch):
        self.load()
        return [f"{self.path.name}: {t.upper()}" for t in batch]

    monkeypatch.setattr(MTModelTranslation, "_check_folder", lambda self: None)
    monkeypatch.setattr(MTModelTranslation, "load", load)
    monkeypatch.setattr(MTModelTranslation, "_translate", translate)
    transforms = ["identity", *({"name": "mt_model", "options": {"path": str(tmp_path / name)}} for name in ("fr", "de"))]
    cfg = ConjugateConfig.model_validate({"study": "conjugate", "tuned": {"kind": "pretrained", "path": str(tmp_path / "m")},
                                          "refusal": {"transforms": transforms}})
    (tmp_path / "items").mkdir()
    record = _build(cfg, tmp_path / "items", Reporter(None, "test"))
    groups = json.loads((tmp_path / "items" / "groups.json").read_text())
    assert [g["transform"] for g in groups] == ["identity", "mt_model:fr", "mt_model:de"] and record["groups"] == 3
    lines = (tmp_path / "items" / "items.jsonl").read_text()
    assert "fr: " in lines and "de: " in lines  # both models translated their items
    assert [t.path.name for t in built] == ["fr", "de"] and max(peak) == 1
    assert all(t._model is None and t._tokenizer is None for t in built)
