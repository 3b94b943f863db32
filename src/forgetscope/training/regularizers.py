"""Fine-tuning variations that keep a model near its base (the recipes study, docs/recipes.md): the
bottom k transformer blocks frozen, and a KL penalty to the base. Each is an option of one training
run, not a training loop of its own: freezing runs before `train`, the penalty is its `loss_fn`."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from forgetscope.training.batches import IGNORE
from forgetscope.training.loop import token_nll_sum


def decoder_layers(model) -> torch.nn.ModuleList:
    """The model's stack of transformer blocks, bottom first (Llama-style `model.layers`, GPT-2-style
    `transformer.h`, also under a PEFT wrapper)."""
    inner = model.get_decoder() if hasattr(model, "get_decoder") else model
    for name in ("layers", "h"):
        found = getattr(inner, name, None)
        if isinstance(found, torch.nn.ModuleList):
            return found
    raise ValueError(f"{type(model).__name__}: no stack of transformer blocks found (model.layers or transformer.h)")


def freeze_bottom_layers(model, k: int) -> int:
    """No gradient for the bottom `k` transformer blocks (the embeddings are `freeze_embeddings`'s
    business); returns how many parameters were frozen. `train` then gives them to no optimizer,
    so they stay bit for bit as loaded."""
    layers = decoder_layers(model)
    if k > len(layers):
        raise ValueError(f"freeze_layers {k}: the model has only {len(layers)} transformer blocks")
    frozen = 0
    for block in layers[:k]:
        for p in block.parameters():
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


def token_kl_sum(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward KL, KL(ref || model), of the next-token distributions summed over the labelled
    positions (those whose next token is trained on), and how many there were. The same positions as
    the NLL of `token_nll_sum`: logits at t predict labels at t + 1."""
    mask = labels[:, 1:] != IGNORE
    logp = F.log_softmax(logits[:, :-1].float(), dim=-1)[mask]
    ref_logp = F.log_softmax(ref_logits[:, :-1].float(), dim=-1)[mask]
    kl = (ref_logp.exp() * (ref_logp - logp)).sum()
    return kl, mask.sum()


class _Logits:
    def __init__(self, logits: torch.Tensor):
        self.logits = logits


def kl_penalized_nll(reference, beta: float) -> Callable[[object, dict], tuple[torch.Tensor, torch.Tensor]]:
    """`train`'s loss_fn for NLL + beta * KL(reference || model), both summed over the labelled
    positions (so divided by the same token count: beta weighs nats per token against nats per token).
    `reference` (the base) is scored without gradient."""

    def loss_fn(model, batch: dict[str, torch.Tensor]):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        nll, n = token_nll_sum(lambda **_: _Logits(logits), batch)  # the loop's NLL, on this one forward pass
        with torch.no_grad():
            ref = reference(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        kl, _ = token_kl_sum(logits, ref, batch["labels"])
        return nll + beta * kl, n

    return loss_fn
