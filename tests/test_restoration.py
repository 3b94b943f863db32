"""Restorers against what they must do: interpolation lands on the checkpoint at ratio 0, on the base
at ratio 1 and on the weighted mean in between (moving toward the base); LM restoration brings a
perturbed model's held-out NLL back toward the unperturbed one, the same for the same seed."""

import copy

import pytest
import torch
from safetensors.torch import load_file, save_file

from forgetscope.errors import UserError
from forgetscope.models import TinyModelConfig, build_tiny_model, save_model
from forgetscope.restoration import interpolate_toward_base, restore_by_lm_training
from forgetscope.training import TrainConfig, train
from forgetscope.training.batches import LMBatches


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def base_and_checkpoint(tiny_lm, tmp_path_factory):
    """Two tiny models of one architecture with different weights; the base saved as safetensors."""
    base, tok = tiny_lm
    folder = tmp_path_factory.mktemp("base")
    save_model(base, tok, folder / "m")
    ck = build_tiny_model(TinyModelConfig(layers=2, hidden=32, heads=2), tok, seed=1)
    return folder / "m", _state(base), ck, tok


@pytest.mark.parametrize("ratio", [0.0, 0.25, 0.5, 1.0])
def test_interpolation_is_the_weighted_mean_toward_the_base(base_and_checkpoint, ratio):
    folder, base, ck, _ = base_and_checkpoint
    model, before = copy.deepcopy(ck), _state(ck)
    interpolate_toward_base(model, folder, ratio)
    after = _state(model)
    assert after.keys() == base.keys()
    moved = 0
    for k in base:
        want = (1 - ratio) * before[k] + ratio * base[k]  # theta = (1 - r) checkpoint + r base
        torch.testing.assert_close(after[k], want, rtol=1e-6, atol=1e-6)
        moved += int(not torch.equal(before[k], base[k]))
    assert moved > 10  # the two models differ, so the test can tell checkpoint from base
    if ratio == 0.0:
        assert all(torch.equal(after[k], before[k]) for k in base)
    if ratio == 1.0:
        assert all(torch.equal(after[k], base[k]) for k in base)


def test_interpolation_reads_a_base_stored_in_another_dtype(base_and_checkpoint, tmp_path):
    """A base saved in bfloat16 is cast to the checkpoint's float32 before mixing."""
    folder, base, ck, _ = base_and_checkpoint
    half = {k: v.to(torch.bfloat16) for k, v in load_file(str(folder / "model.safetensors")).items()}
    (tmp_path / "bf16").mkdir()
    save_file(half, tmp_path / "bf16" / "model.safetensors")
    model = copy.deepcopy(ck)
    interpolate_toward_base(model, tmp_path / "bf16", 0.5)
    for k, v in model.state_dict().items():
        assert v.dtype == torch.float32
        torch.testing.assert_close(v, 0.5 * ck.state_dict()[k] + 0.5 * base[k].to(torch.bfloat16).float(), rtol=1e-6, atol=1e-6)


def test_interpolation_refuses_bad_ratios_and_foreign_weights(base_and_checkpoint, tmp_path):
    folder, _, ck, tok = base_and_checkpoint
    for bad in (-0.1, 1.5):
        with pytest.raises(UserError, match=r"ratio must be in \[0, 1\]"):
            interpolate_toward_base(copy.deepcopy(ck), folder, bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no safetensors weights"):
        interpolate_toward_base(copy.deepcopy(ck), tmp_path / "empty", 0.5)
    # a base without some of the checkpoint's weights: an error naming them, not a silent partial mix
    weights = load_file(str(folder / "model.safetensors"))
    name = next(k for k in weights if "layers.1." in k)
    partial = {k: v for k, v in weights.items() if k != name}
    (tmp_path / "partial").mkdir()
    save_file(partial, tmp_path / "partial" / "model.safetensors")
    with pytest.raises(UserError, match="base lacks weights"):
        interpolate_toward_base(copy.deepcopy(ck), tmp_path / "partial", 0.5)


def test_interpolation_of_an_untied_model_needs_its_output_layer(tiny_world, tmp_path):
    """A tied output embedding is saved once and needs no weights of its own; an untied one does."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_world.tokenizer()
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=False)
    torch.manual_seed(0)
    a, b = LlamaForCausalLM(cfg), LlamaForCausalLM(cfg)
    a.save_pretrained(tmp_path / "a", safe_serialization=True)
    weights = load_file(str(tmp_path / "a" / "model.safetensors"))
    assert "lm_head.weight" in weights
    (tmp_path / "nohead").mkdir()
    save_file({k: v for k, v in weights.items() if k != "lm_head.weight"}, tmp_path / "nohead" / "model.safetensors")
    with pytest.raises(UserError, match="lm_head.weight"):
        interpolate_toward_base(b, tmp_path / "nohead", 0.5)
    interpolate_toward_base(b, tmp_path / "a", 1.0)
    torch.testing.assert_close(b.lm_head.weight, a.lm_head.weight)
    # a model whose config ties the output layer needs no lm_head.weight in the base's files, even
    # where its own lm_head is a separate tensor (the base wrote the tied weight once)
    tied = LlamaForCausalLM(cfg)
    tied.config.tie_word_embeddings = True
    assert "lm_head.weight" in dict(tied.named_parameters())
    head = tied.lm_head.weight.detach().clone()
    interpolate_toward_base(tied, tmp_path / "nohead", 1.0)
    torch.testing.assert_close(tied.model.embed_tokens.weight, weights["model.embed_tokens.weight"])
    assert torch.equal(tied.lm_head.weight, head)


# -- restoration by LM training ------------------------------------------------------------------
def _nll(model, tok, texts) -> float:
    """Mean NLL (nats) of the texts, every token predicted from all before it: one forward pass per
    text, computed here rather than with the scorer (whose own tests are elsewhere)."""
    total = 0.0
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([[tok.eos_token_id, *tok(text, add_special_tokens=False)["input_ids"]]])
            logp = torch.log_softmax(model.eval()(input_ids=ids).logits[0, :-1].double(), -1)
            total -= float(logp.gather(-1, ids[0, 1:, None]).sum())
    return total / len(texts)


@pytest.fixture(scope="module")
def perturbed(tiny_world):
    """A base trained briefly on the world's pre-training text, and a copy with noise added to every
    weight matrix (the 'fine-tuned away' model restoration must bring back)."""
    tok = tiny_world.tokenizer()
    base = build_tiny_model(TinyModelConfig(layers=2, hidden=32, heads=2), tok, seed=0)
    texts = [r["text"] for r in tiny_world.pretrain]
    train(base, LMBatches(texts, tok, 32, seed=0), TrainConfig(steps=60, batch_size=8, lr=3e-3, max_length=32), seed=0)
    noisy = copy.deepcopy(base)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in noisy.parameters():
            if p.dim() > 1:
                p.add_(0.08 * torch.randn(p.shape, generator=g))
    heldout = [r["text"] for r in tiny_world.heldout]
    return base.eval(), noisy.eval(), tok, heldout


def test_lm_restoration_restores_a_perturbed_model(perturbed, tiny_world):
    base, noisy, tok, heldout = perturbed
    nll_base, nll_noisy = _nll(base, tok, heldout), _nll(noisy, tok, heldout)
    assert nll_noisy > nll_base + 5.0  # the perturbation did damage
    texts = [r["text"] for r in tiny_world.restore]  # other people than the held-out ones
    cfg = TrainConfig(steps=20, batch_size=8, lr=3e-3, max_length=32)
    steps = []
    restored, result = restore_by_lm_training(copy.deepcopy(noisy), tok, texts, cfg, seed=0,
                                              on_step=lambda s, loss: steps.append((s, loss)))
    nll_restored = _nll(restored, tok, heldout)
    assert nll_restored < nll_noisy - 0.5 * (nll_noisy - nll_base)  # at least half the damage undone
    assert [s for s, _ in steps] == list(range(1, 21)) and steps[-1][1] < steps[0][1]
    # the same seed: the same restoration, weight for weight; another seed: another batch order
    again, _ = restore_by_lm_training(copy.deepcopy(noisy), tok, texts, cfg, seed=0)
    other, _ = restore_by_lm_training(copy.deepcopy(noisy), tok, texts, cfg, seed=1)
    a, b, c = _state(restored), _state(again), _state(other)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_lora_restoration_trains_an_adapter_only(perturbed, tiny_world):
    from peft import PeftModel

    base, noisy, tok, heldout = perturbed
    texts = [r["text"] for r in tiny_world.restore]
    cfg = TrainConfig.model_validate({"steps": 20, "batch_size": 8, "lr": 1e-2, "max_length": 32, "lora": {"r": 8, "alpha": 16}})
    before = _state(noisy)
    restored, _ = restore_by_lm_training(copy.deepcopy(noisy), tok, texts, cfg, seed=0)
    assert isinstance(restored, PeftModel)
    assert _nll(restored, tok, heldout) < _nll(noisy, tok, heldout) - 1.0
    merged = _state(restored.merge_and_unload())
    assert any(not torch.equal(merged[k], before[k]) for k in before)  # the adapter changed the weights
    assert all(torch.equal(v, before[k]) for k, v in _state(noisy).items())  # the input model was a copy
