"""Pattern shift of a checkpoint against the base (Lin et al., URIAL): teacher-force the checkpoint's
own greedy responses through both models and compare the next-token distributions position by
position.

- KL(base || checkpoint), averaged over response tokens (nats);
- the rank of the checkpoint's token (its greedy top-1) in the base's distribution:
  rank 1 "unshifted", 2-3 "marginal", above 3 "shifted".

Two passes, so the two models never need to be in memory together: `checkpoint_pass` stores the
responses and the checkpoint's log-probabilities; `base_pass` reloads them beside the base.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from forgetscope.evaluation.scorer import NativeScorer, greedy_token_ids
from forgetscope.store.atomic import atomic_write_bytes


def _teacher_forced_logprobs(scorer: NativeScorer, pairs: Sequence[tuple[list[int], list[int]]]) -> list[torch.Tensor]:
    """Per pair, the log-probabilities [len(response), vocab] predicting each response token."""
    out = []
    for start in range(0, len(pairs), scorer.batch_size):
        chunk = pairs[start : start + scorer.batch_size]
        lp = scorer.forward_logprobs([(p + r)[:-1] for p, r in chunk])
        for b, (p, r) in enumerate(chunk):
            out.append(lp[b, len(p) - 1 : len(p) - 1 + len(r)].clone())
    return out


def checkpoint_pass(scorer: NativeScorer, prompts: Sequence[str], max_new_tokens: int, path: Path) -> None:
    with torch.inference_mode():
        pairs = [(p, r) for p, r in greedy_token_ids(scorer, prompts, max_new_tokens) if r]
        tensors: dict[str, torch.Tensor] = {}
        for i, ((p, r), lp) in enumerate(zip(pairs, _teacher_forced_logprobs(scorer, pairs), strict=True)):
            tensors[f"{i}.prompt"] = torch.tensor(p, dtype=torch.long)
            tensors[f"{i}.response"] = torch.tensor(r, dtype=torch.long)
            tensors[f"{i}.logprobs"] = lp.contiguous()

        atomic_write_bytes(path, save(tensors) if tensors else save({"empty": torch.zeros(0)}))


def base_pass(base_scorer: NativeScorer, path: Path) -> dict[str, float]:
    """Compare a stored checkpoint pass with the base. Returns mean KL and the three rank shares."""
    with torch.inference_mode():
        data = load_file(str(path))
        n = len({k.split(".")[0] for k in data if k != "empty"})
        pairs = [(data[f"{i}.prompt"].tolist(), data[f"{i}.response"].tolist()) for i in range(n)]
        if not pairs:
            return {"kl": float("nan"), "unshifted": float("nan"), "marginal": float("nan"), "shifted": float("nan"), "tokens": 0}
        base_lps = _teacher_forced_logprobs(base_scorer, pairs)
        kls, ranks = [], []
        for i, lb in enumerate(base_lps):
            lc = data[f"{i}.logprobs"]
            kls.append((lb.exp() * (lb - lc)).sum(-1))
            tok = lc.argmax(-1)
            ranks.append((lb > lb.gather(-1, tok[:, None])).sum(-1) + 1)
        kl = torch.cat(kls)
        rank = torch.cat(ranks)
        return {
            "kl": float(kl.mean()),
            "unshifted": float((rank == 1).float().mean()),
            "marginal": float(((rank >= 2) & (rank <= 3)).float().mean()),
            "shifted": float((rank > 3).float().mean()),
            "tokens": int(rank.numel()),
        }


