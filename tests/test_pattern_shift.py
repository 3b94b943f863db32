"""Pattern shift against hand computation: KL(base || checkpoint) (not the reverse) and the rank of
the checkpoint's token in the base's distribution, on distributions built by hand and on two models
recomputed one sequence at a time."""

import math

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from forgetscope.evaluation.pattern_shift import base_pass, checkpoint_pass
from forgetscope.evaluation.scorer import NativeScorer


def _teacher_forced(model, prompt: list[int], response: list[int]) -> np.ndarray:
    """Log-probabilities [len(response), vocab] predicting each response token, one unbatched pass (float64)."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + response])).logits[0].double()
    return torch.log_softmax(logits, -1)[len(prompt) - 1 : len(prompt) - 1 + len(response)].numpy()


def test_kl_direction_and_rank_buckets_by_hand(tiny_lm, tmp_path):
    """A stored checkpoint pass written by hand: at each position the checkpoint's top token is the
    base's k-th most likely token, for k chosen here, so the rank shares are known; the KL is
    computed here from the two distributions and differs clearly from KL(checkpoint || base)."""
    model, tok = tiny_lm
    pairs = [(tok("alice-baker was born in", add_special_tokens=False)["input_ids"], [5, 9, 30, 31, 12, 7, 40, 41]),
             (tok("what is 4 plus", add_special_tokens=False)["input_ids"], [20, 21, 22])]
    ranks = [[1, 1, 1, 2, 3, 4, 9, 2], [3, 1, 5]]  # 4 unshifted, 4 marginal (2-3), 3 shifted (> 3) of 11
    tensors, kl_fwd, kl_rev = {}, [], []
    for i, ((p, r), want) in enumerate(zip(pairs, ranks, strict=True)):
        lb = _teacher_forced(model, p, r)
        lc = np.empty_like(lb)
        for j, k in enumerate(want):
            order = np.argsort(-lb[j])
            z = 0.3 * lb[j]
            z[order[k - 1]] += 6.0  # the checkpoint's top token: the base's k-th
            lc[j] = z - np.logaddexp.reduce(z)
            assert np.argmax(lc[j]) == order[k - 1]
        kl_fwd += list((np.exp(lb) * (lb - lc)).sum(-1))
        kl_rev += list((np.exp(lc) * (lc - lb)).sum(-1))
        tensors[f"{i}.prompt"] = torch.tensor(p)
        tensors[f"{i}.response"] = torch.tensor(r)
        tensors[f"{i}.logprobs"] = torch.tensor(lc, dtype=torch.float32)
    save_file(tensors, tmp_path / "ck.safetensors")
    got = base_pass(NativeScorer(model, tok, batch_size=1), tmp_path / "ck.safetensors")
    assert got["tokens"] == 11
    assert got["unshifted"] == pytest.approx(4 / 11) and got["marginal"] == pytest.approx(4 / 11)
    assert got["shifted"] == pytest.approx(3 / 11)
    assert got["kl"] == pytest.approx(np.mean(kl_fwd), abs=1e-4)
    assert abs(np.mean(kl_fwd) - np.mean(kl_rev)) > 0.5  # the direction is decided by the test


def test_checkpoint_then_base_pass_equal_a_recomputation(tiny_lm, tiny_world, tmp_path):
    """Two real models: the checkpoint's greedy responses and its teacher-forced log-probabilities
    are stored; the base pass equals KL(base || checkpoint) and the base ranks of the checkpoint's
    tokens recomputed from one unbatched forward pass of each model."""
    from forgetscope.models import TinyModelConfig, build_tiny_model

    base, tok = tiny_lm
    ck = build_tiny_model(TinyModelConfig(layers=2, hidden=32, heads=2), tok, seed=1).eval()
    with torch.no_grad():  # sharper distributions than a fresh initialisation gives
        for p in ck.parameters():
            if p.dim() > 1:
                p.mul_(4.0)
    prompts = ["<user> what is the employer of alice-baker ? <assistant>", "alice-baker was born in", "task : repeat | input : a b"]
    path = tmp_path / "ck.safetensors"
    checkpoint_pass(NativeScorer(ck, tok, batch_size=2), prompts, 5, path)
    got = base_pass(NativeScorer(base, tok, batch_size=2), path)
    kls, ranks = [], []
    for prompt in prompts:
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        r = []
        with torch.no_grad():  # greedy, one token at a time
            for _ in range(5):
                nxt = int(ck(input_ids=torch.tensor([p + r])).logits[0, -1].argmax())
                r.append(nxt)
                if nxt == tok.eos_token_id:
                    break
        lc, lb = _teacher_forced(ck, p, r), _teacher_forced(base, p, r)
        assert [int(t) for t in lc.argmax(-1)] == r  # greedy: the checkpoint's top token is its response
        kls += list((np.exp(lb) * (lb - lc)).sum(-1))
        ranks += [int((lb[j] > lb[j, t]).sum()) + 1 for j, t in enumerate(r)]
    ranks = np.array(ranks)
    assert got["tokens"] == len(ranks)
    assert got["kl"] == pytest.approx(np.mean(kls), rel=1e-4)
    assert got["unshifted"] == pytest.approx(np.mean(ranks == 1))
    assert got["marginal"] == pytest.approx(np.mean((ranks >= 2) & (ranks <= 3)))
    assert got["shifted"] == pytest.approx(np.mean(ranks > 3))
    assert got["kl"] > 0.1 and got["unshifted"] < 1.0  # two different models: a shift to measure
    # a model against itself: no shift
    same = base_pass(NativeScorer(ck, tok), path)
    assert same["kl"] == pytest.approx(0.0, abs=1e-5) and same["unshifted"] == 1.0 and same["shifted"] == 0.0


def test_no_responses_give_nan_and_zero_tokens(tiny_lm, tmp_path):
    model, tok = tiny_lm
    checkpoint_pass(NativeScorer(model, tok), [], 4, tmp_path / "none.safetensors")
    got = base_pass(NativeScorer(model, tok), tmp_path / "none.safetensors")
    assert got["tokens"] == 0 and all(math.isnan(got[k]) for k in ("kl", "unshifted", "marginal", "shifted"))
