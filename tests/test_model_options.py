"""Options of real-model runs: probing an adapter checkpoint unmerged, a supplied chat template, and
the tokenizer check of metrics that compare two models token by token."""

from __future__ import annotations

import pytest
import torch

from forgetscope.errors import UserError
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.models import (
    TinyModelConfig,
    build_tiny_model,
    load_model,
    load_tokenizer,
    save_model,
)
from forgetscope.models.loading import check_same_tokenizer
from forgetscope.training import TrainConfig
from forgetscope.training.loop import wrap_lora

TEMPLATE = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"


def test_adapter_checkpoint_probes_the_same_merged_or_not(tmp_path, tiny_world):
    tok = tiny_world.tokenizer()
    base = build_tiny_model(TinyModelConfig(layers=2, hidden=32, heads=2), tok, seed=0)
    save_model(base, tok, tmp_path / "base")
    peft = wrap_lora(load_model(tmp_path / "base"), TrainConfig(steps=1, lora={"r": 4, "alpha": 8}), seed=0)
    with torch.no_grad():  # a trained adapter: B is zero at initialisation
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(hash(name) % 1000))
    peft.peft_config["default"].base_model_name_or_path = str(tmp_path / "base")
    save_model(peft, tok, tmp_path / "adapter")

    merged = load_model(tmp_path / "adapter")
    unmerged = load_model(tmp_path / "adapter", merge_adapter=False)
    assert type(unmerged).__name__ == "PeftModelForCausalLM" and type(merged).__name__ == "LlamaForCausalLM"
    reqs = [(p["prompt"], p["choices"][p["answer"]]) for p in tiny_world.probes[:12]]
    a = NativeScorer(merged, tok).loglikelihood(reqs)
    b = NativeScorer(unmerged, tok).loglikelihood(reqs)
    plain = NativeScorer(load_model(tmp_path / "base"), tok).loglikelihood(reqs)
    assert max(abs(x.logprob - y.logprob) for x, y in zip(a, b, strict=True)) < 1e-4
    assert max(abs(x.logprob - y.logprob) for x, y in zip(a, plain, strict=True)) > 1e-3  # the adapter matters


def test_supplied_chat_template_replaces_the_tokenizers(tmp_path, tiny_world):
    tok = tiny_world.tokenizer()
    save_model(build_tiny_model(TinyModelConfig(layers=1, hidden=16, heads=2), tok, seed=0), tok, tmp_path / "m")
    msgs = [{"role": "user", "content": "hi"}]
    inline = load_tokenizer(tmp_path / "m", chat_template=TEMPLATE)
    assert inline.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) == "<user>hi<assistant>"
    (tmp_path / "t.jinja").write_text(TEMPLATE)
    from_file = load_tokenizer(tmp_path / "m", chat_template=str(tmp_path / "t.jinja"))
    assert from_file.chat_template == TEMPLATE
    with pytest.raises(UserError, match="neither a Jinja template nor a file"):
        load_tokenizer(tmp_path / "m", chat_template=str(tmp_path / "missing.jinja"))


def test_metrics_that_compare_models_reject_different_tokenizers(tiny_world):
    from forgetscope.world.build import build_world
    from forgetscope.world.config import WorldConfig

    tok = tiny_world.tokenizer()
    check_same_tokenizer(tok, tiny_world.tokenizer(), "base vs checkpoint")  # the same: no error
    other = build_world(WorldConfig.model_validate({"people": {"ift": 3, "restore": 3, "eval": 3, "heldout": 2}}), seed=7).tokenizer()
    with pytest.raises(UserError, match="tokenizers differ"):
        check_same_tokenizer(tok, other, "base vs checkpoint")
