"""Mixed precision: the `auto` rule, and bf16 autocast really used (and close to fp32) in scoring and
training when asked for."""

import pytest
import torch

from forgetscope import precision
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.training import LMBatches, TrainConfig, train


class _Big(torch.nn.Module):
    def __init__(self, n: int):
        super().__init__()
        self.w = torch.nn.Parameter(torch.empty(n), requires_grad=False)


@pytest.mark.parametrize("amx", [True, False])
def test_auto_is_bf16_only_for_real_models_on_bf16_hardware(monkeypatch, amx):
    monkeypatch.setattr(precision, "cpu_has_amx_bf16", lambda: amx)
    big, small = _Big(precision.AUTO_MIN_PARAMETERS), _Big(precision.AUTO_MIN_PARAMETERS - 1)
    assert precision.resolve("auto", "cpu", big) == ("bf16" if amx else "no")
    assert precision.resolve("auto", "cpu", small) == "no"  # tiny synthetic models stay fp32
    assert precision.resolve("no", "cpu", big) == "no" and precision.resolve("bf16", "cpu", small) == "bf16"


def test_amx_flag_read_from_cpuinfo():
    flags = next((line.split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    assert precision.cpu_has_amx_bf16() == ("amx_bf16" in flags)


def test_scorer_bf16_autocast_is_used_and_close_to_fp32(tiny_lm):
    model, tok = tiny_lm
    reqs = [("alice-baker was born in", " paris"), ("what is 4 plus", " 7 ?"), ("the employer of bruno-costa is", " acme")]
    fp32 = NativeScorer(model, tok, mixed_precision="no")
    bf16 = NativeScorer(model, tok, mixed_precision="bf16")
    assert (fp32.mixed_precision, bf16.mixed_precision) == ("no", "bf16")
    a, b = fp32.loglikelihood(reqs), bf16.loglikelihood(reqs)
    diffs = [abs(x.logprob - y.logprob) for x, y in zip(a, b, strict=True)]
    assert max(diffs) > 0  # autocast ran: bf16 matmuls round differently
    assert max(diffs) < 0.1 * max(1.0, max(abs(x.logprob) for x in a))
    assert NativeScorer(model, tok).mixed_precision == "no"  # auto, process default: a tiny model stays fp32


def test_scorer_takes_the_process_setting(tiny_lm, monkeypatch):
    model, tok = tiny_lm
    monkeypatch.setattr(precision, "_scoring", "bf16")
    assert NativeScorer(model, tok).mixed_precision == "bf16"


def test_training_resolves_and_uses_bf16(tiny_lm):
    model, tok = tiny_lm
    texts = ["alice-baker was born in paris . the pet of nora-xu is called kiwi ."] * 8
    batches = LMBatches(texts, tok, max_length=16, seed=0)
    losses = {}
    for mode in ("no", "bf16", "auto"):
        m = type(model)(model.config)
        m.load_state_dict(model.state_dict())
        r = train(m, batches, TrainConfig(steps=2, batch_size=4, lr=1e-3, max_length=16, mixed_precision=mode),
                  seed=0, local=True, device="cpu")
        assert r.mixed_precision == ("no" if mode == "auto" else mode)
        assert next(m.parameters()).dtype == torch.float32  # fp32 master weights
        losses[mode] = r.losses
    assert losses["auto"] == losses["no"]
    assert losses["bf16"] != losses["no"] and losses["bf16"][0] == pytest.approx(losses["no"][0], rel=0.05)
