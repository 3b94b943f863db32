"""The base every seed shares pre-trains alone, so on every core: its threads are set for the training
and recorded, the key names them whatever threads the calling process has (a seed worker on one thread
finds the base the shared stage made on more), and a seed's own base stays on `runtime.threads`."""

import copy
from types import SimpleNamespace

import torch

from conftest import SMOKE, with_changes
from forgetscope.execution import Reporter, torch_threads
from forgetscope.store import RunStore
from forgetscope.studies.trajectory import s2_base_pretrain
from forgetscope.studies.trajectory.config import TrajectoryConfig
from forgetscope.views import BASE_STAGE
from forgetscope.world.build import write_world


def _ctx(tmp_path, tiny_world, base_seed):
    write_world(tiny_world, tmp_path / "world")
    tiny_world.tokenizer().save_pretrained(tmp_path / "world" / "tokenizer")
    cfg = TrajectoryConfig.model_validate(with_changes(copy.deepcopy(SMOKE), base__train__steps=2, base_seed=base_seed,
                                                       runtime__cache_dir=str(tmp_path / "cache")))
    store = RunStore(tmp_path / "run")
    return store, SimpleNamespace(cfg=cfg, tokenizer=tiny_world.tokenizer(), rows=lambda ref, default: tiny_world.pretrain,
                                  world_seed=0, world_dir=tmp_path / "world", device="cpu", reporter=Reporter(None, "test"),
                                  stage=lambda name: store.stage(name, 0))


def test_a_shared_base_trains_on_every_core(tmp_path, tiny_world, monkeypatch):
    monkeypatch.setattr(s2_base_pretrain, "CORES", 3)  # a 3-core machine
    store, ctx = _ctx(tmp_path, tiny_world, base_seed=0)
    seen = []
    real = s2_base_pretrain.train_with_checkpoints

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(s2_base_pretrain, "train_with_checkpoints", spy)
    with torch_threads(1):  # as a seed worker (runtime.threads 1)
        s2_base_pretrain.pretrain_base(ctx)
        assert torch.get_num_threads() == 1  # the worker's own threads again afterwards
        key = s2_base_pretrain.base_cache_key(ctx)
    assert seen == [3]
    assert store.stage(BASE_STAGE, 0).record()["threads"] == 3
    with torch_threads(2):
        assert s2_base_pretrain.base_cache_key(ctx) == key  # the key does not follow the caller's threads
    assert (tmp_path / "cache" / "bases" / key / "model").is_dir()


def test_a_seed_s_own_base_trains_on_the_worker_s_threads(tmp_path, tiny_world, monkeypatch):
    monkeypatch.setattr(s2_base_pretrain, "CORES", 3)
    _, own = _ctx(tmp_path / "own", tiny_world, base_seed=None)
    _, shared = _ctx(tmp_path / "shared", tiny_world, base_seed=0)
    assert s2_base_pretrain.base_threads(own) == own.cfg.runtime.threads == 1
    assert s2_base_pretrain.base_threads(shared) == 3
    assert s2_base_pretrain.base_cache_key(own) != s2_base_pretrain.base_cache_key(shared)
    monkeypatch.setattr(s2_base_pretrain, "launched", lambda: True)  # under a launcher: beside the group's other processes
    assert s2_base_pretrain.base_threads(shared) == 1
