"""Replay's micro-batches: each step's fine-tuning examples and replayed blocks run apart, so the
examples are not padded to a block's length, and the update is the one of the step's whole batch
(against training on the same steps collated together)."""

import torch

from forgetscope.models import TinyModelConfig, build_tiny_model
from forgetscope.training import LMBatches, SFTBatches, TrainConfig, train
from forgetscope.training.batches import ReplayBatches
from forgetscope.training.loop import micro_batches


def _mixed(world, tok):
    pairs = [(r["messages"][0]["content"], r["messages"][1]["content"]) for r in world.ift if len(r["messages"]) == 2]
    main = SFTBatches(pairs, tok, 96, seed=0)
    replay = LMBatches([r["text"] for r in world.pretrain], tok, 96, seed=0)
    return main, ReplayBatches(main, replay, 0.25)


class _Together:
    """The same sampler without its own split: one micro-batch of both sources, as before."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        if name == "apart":
            raise AttributeError(name)
        return getattr(self.inner, name)


def test_each_source_is_its_own_micro_batch(tiny_world):
    tok = tiny_world.tokenizer()
    main, mixed = _mixed(tiny_world, tok)
    idx = mixed.global_indices(0, 16)
    for parts in (1, 2):
        micro = micro_batches(mixed, idx, parts)
        assert sorted(i for m in micro for i in m) == sorted(idx)  # every example once
        assert len(micro) == 2 * parts
        assert all(all(i < len(main) for i in m) or all(i >= len(main) for i in m) for m in micro)
    main_part, replay_part = micro_batches(mixed, idx, 1)
    # the fine-tuning examples are collated at their own width, narrower than a replayed block
    assert mixed.collate(main_part)["input_ids"].shape[1] < mixed.collate(replay_part)["input_ids"].shape[1] == 96
    # a sampler without its own split: interleaved, as the loop always did
    assert micro_batches(main, [5, 6, 7, 8, 9], 2) == [[5, 7, 9], [6, 8]]


def _model(tok):
    return build_tiny_model(TinyModelConfig(layers=2, hidden=32, heads=2), tok, seed=0)


def test_the_update_is_the_whole_batch_s(tiny_world):
    tok = tiny_world.tokenizer()
    _, mixed = _mixed(tiny_world, tok)
    cfg = TrainConfig(steps=3, batch_size=8, lr=1e-2)
    start, apart, together = _model(tok), _model(tok), _model(tok)
    a = train(apart, mixed, cfg, seed=0, local=True, device="cpu")
    b = train(together, _Together(mixed), cfg, seed=0, local=True, device="cpu")
    assert all(abs(x - y) < 1e-5 for x, y in zip(a.losses, b.losses, strict=True))
    for (name, p), q, p0 in zip(apart.named_parameters(), together.parameters(), start.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-5, rtol=1e-4), name
    assert any(not torch.equal(p, p0) for p, p0 in zip(apart.parameters(), start.parameters()))  # training moved them
