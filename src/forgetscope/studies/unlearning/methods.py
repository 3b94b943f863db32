"""The built-in unlearning methods: each a forget term (a loss on forget batches), plus
`retain_weight` × the LM loss on retain text, trained by forgetscope.training's one loop.

    ga        −NLL(forget): gradient ascent on the forget text (token mean)
    graddiff  −NLL(forget) + w·NLL(retain)
    npo       −(2/β) mean_i log σ(−β (log πθ(y_i) − log π_ref(y_i))): negative preference optimization
              (Zhang et al. 2024), π_ref the base, frozen; y_i one forget sequence
    idk       NLL of "sorry ." after each forget statement's prefix (refusal / "I don't know" tuning)

Each loss returns the step's mean already; the batches report one "term" per step (train divides the
summed loss by it), so the loop's update is this loss's gradient.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from forgetscope.training.batches import IGNORE, SFTBatches, epoch_indices


def sequence_logprobs(model, ids: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sequence: the summed log-probability of its labelled tokens, and how many there were."""
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    target = labels[:, 1:]
    keep = target != IGNORE
    lp = torch.log_softmax(logits, -1).gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (lp * keep).sum(1), keep.sum(1)


def mean_nll(model, ids, labels, mask) -> torch.Tensor:
    lp, n = sequence_logprobs(model, ids, labels, mask)
    return -lp.sum() / n.sum().clamp(min=1)


def npo_loss(logp: torch.Tensor, logp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO's loss from sequence log-probabilities under the model and the reference."""
    return -(2.0 / beta) * F.logsigmoid(-beta * (logp - logp_ref)).mean()


class PairedBatches:
    """Forget examples and (optionally) retain examples, one global batch of each per step; indices are
    ("f", i) and ("r", j). Reports one loss term per step: the losses below are means already."""

    def __init__(self, forget: SFTBatches, retain: SFTBatches | None, seed: int):
        self.forget, self.retain, self.seed = forget, retain, seed

    def global_indices(self, step: int, batch_size: int) -> list:
        out = [("f", i) for i in epoch_indices(len(self.forget), batch_size, self.seed, step)]
        if self.retain is not None:
            out += [("r", j) for j in epoch_indices(len(self.retain), batch_size, self.seed + 1, step)]
        return out

    def collate(self, indices: Sequence) -> dict[str, torch.Tensor]:
        f = self.forget.collate([i for k, i in indices if k == "f"])
        out = dict(f)
        if self.retain is not None:
            r = self.retain.collate([i for k, i in indices if k == "r"])
            out.update({f"retain_{k}": v for k, v in r.items()})
        return out

    def label_tokens(self, indices) -> int:
        return 1


def forget_term(name: str, model, batch: dict, *, ref=None, beta: float = 0.1) -> torch.Tensor:
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    if name in ("ga", "graddiff"):
        return -mean_nll(model, ids, labels, mask)
    if name == "npo":
        logp, _ = sequence_logprobs(model, ids, labels, mask)
        with torch.no_grad():
            logp_ref, _ = sequence_logprobs(ref, ids, labels, mask)
        return npo_loss(logp, logp_ref, beta)
    if name == "idk":
        return mean_nll(model, ids, labels, mask)
    raise ValueError(f"unknown unlearning method {name!r}")


def method_loss(name: str, *, retain_weight: float, ref=None, beta: float = 0.1) -> Callable:
    """loss_fn(model, batch) -> (loss, 1) for forgetscope.training.train."""
    def loss_fn(model, batch):
        loss = forget_term(name, model, batch, ref=ref, beta=beta)
        if retain_weight > 0:
            loss = loss + retain_weight * mean_nll(model, batch["retain_input_ids"], batch["retain_labels"], batch["retain_attention_mask"])
        return loss, 1
    return loss_fn


def unlearn(model, tokenizer, method, forget_examples: list, retain_texts: list[str], *, seed: int, device):
    """Apply `method` (config.MethodConfig) to `model` in place. `forget_examples`: texts (every token
    in the loss) or (prompt, completion) pairs (idk); `retain_texts`: the retain LM text."""
    from forgetscope.training.loop import train

    cfg = method.train
    ex = [(e, True) for e in forget_examples] if isinstance(forget_examples[0], str) else forget_examples
    forget = SFTBatches([[seg] for seg in ex] if isinstance(forget_examples[0], str) else ex, tokenizer, cfg.max_length, seed)
    retain = SFTBatches([[(t, True)] for t in retain_texts], tokenizer, cfg.max_length, seed) if method.retain_weight > 0 else None
    ref = None
    if method.name == "npo":
        ref = copy.deepcopy(model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
    loss_fn = method_loss(method.name, retain_weight=method.retain_weight, ref=ref, beta=method.beta)
    return train(model, PairedBatches(forget, retain, seed), cfg, seed=seed, loss_fn=loss_fn, local=True, device=device)
