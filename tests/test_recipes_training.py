"""The recipes' training options: the KL term against a hand computation, frozen blocks bit for bit
unchanged by training, the replay share of every batch as configured."""

import math

import torch

from forgetscope.models import TinyModelConfig, build_tiny_model
from forgetscope.training import LMBatches, SFTBatches, TrainConfig, train
from forgetscope.training.batches import IGNORE, ReplayBatches
from forgetscope.training.loop import token_nll_sum
from forgetscope.training.regularizers import decoder_layers, freeze_bottom_layers, kl_penalized_nll, token_kl_sum


def _model(tok, seed=0):
    return build_tiny_model(TinyModelConfig(layers=2, hidden=32, heads=2), tok, seed=seed)


def _pairs(world):
    return [(r["messages"][0]["content"], r["messages"][1]["content"]) for r in world.ift if len(r["messages"]) == 2]


def test_kl_term_equals_a_hand_computation():
    # one sequence of 3 positions over a vocabulary of 3; position 0 predicts a masked label
    logits = torch.tensor([[[1.0, 0.0, -1.0], [0.5, 0.5, 0.0], [2.0, 0.0, 0.0]]])
    ref = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0]]])
    labels = torch.tensor([[IGNORE, IGNORE, 2]])  # label at t+1: only position 1 (predicting token 2) counts

    def softmax(xs):
        z = sum(math.exp(x) for x in xs)
        return [math.exp(x) / z for x in xs]

    p, q = softmax([0.0, 1.0, 0.0]), softmax([0.5, 0.5, 0.0])  # the reference's and the model's at position 1
    expected = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    kl, n = token_kl_sum(logits, ref, labels)
    assert int(n) == 1
    assert abs(float(kl) - expected) < 1e-6
    assert expected > 0.01  # the case is not degenerate


def test_kl_penalty_adds_beta_times_the_kl_to_the_nll(tiny_world):
    tok = tiny_world.tokenizer()
    batch = SFTBatches(_pairs(tiny_world)[:4], tok, 64, seed=0).collate([0, 1, 2, 3])
    model, ref = _model(tok, seed=0).eval(), _model(tok, seed=1).eval()
    nll, n = token_nll_sum(model, batch)
    with torch.no_grad():
        kl, _ = token_kl_sum(model(**{k: batch[k] for k in ("input_ids", "attention_mask")}).logits,
                             ref(**{k: batch[k] for k in ("input_ids", "attention_mask")}).logits, batch["labels"])
        loss, m = kl_penalized_nll(ref, 0.5)(model, batch)
        same, _ = kl_penalized_nll(model, 0.5)(model, batch)  # a reference equal to the model: no penalty
    assert int(m) == int(n) and float(kl) > 0
    assert torch.allclose(loss, nll + 0.5 * kl, atol=1e-5)
    assert torch.allclose(same, nll, atol=1e-5)


def test_frozen_bottom_blocks_are_byte_identical_after_training(tiny_world):
    tok = tiny_world.tokenizer()
    model = _model(tok)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frozen = freeze_bottom_layers(model, 1)
    assert frozen == sum(p.numel() for p in decoder_layers(model)[0].parameters()) > 0
    train(model, SFTBatches(_pairs(tiny_world), tok, 64, seed=0), TrainConfig(steps=5, batch_size=4, lr=1e-2, weight_decay=0.1), seed=0)
    after = model.state_dict()
    bottom = [k for k in after if ".layers.0." in k]
    top = [k for k in after if ".layers.1." in k]
    assert bottom and all(torch.equal(before[k], after[k]) for k in bottom)
    assert any(not torch.equal(before[k], after[k]) for k in top)  # training did move the rest


def test_freezing_more_blocks_than_the_model_has_is_refused(tiny_world):
    import pytest

    with pytest.raises(ValueError, match="only 2 transformer blocks"):
        freeze_bottom_layers(_model(tiny_world.tokenizer()), 3)


def test_replay_share_of_every_batch_is_as_configured(tiny_world):
    tok = tiny_world.tokenizer()
    main = SFTBatches(_pairs(tiny_world), tok, 64, seed=0)
    replay = LMBatches([r["text"] for r in tiny_world.pretrain], tok, 32, seed=0)
    mixed = ReplayBatches(main, replay, 0.25)
    for step in range(6):
        idx = mixed.global_indices(step, 8)
        replayed = [i for i in idx if i >= len(main)]
        assert len(idx) == 8 and len(replayed) == 2
        assert idx[:6] == main.global_indices(step, 6)  # the main part is drawn as main's own batches are
        batch = mixed.collate(idx)
        assert batch["input_ids"].shape[0] == 8
        # the replayed rows are the replay blocks, whole, in the loss
        for row, j in zip(batch["input_ids"][6:], [i - len(main) for i in replayed]):
            assert torch.equal(row[:32], replay.blocks[j])
        assert mixed.label_tokens(idx) == main.label_tokens(idx[:6]) + 2 * 31
    assert ReplayBatches(main, replay, 0.0).global_indices(3, 8) == main.global_indices(3, 8)  # share 0: fine-tuning as before
