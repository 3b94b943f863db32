"""The native batched scorer: log-likelihoods of continuations, greedy generation, bits per byte.

Tokenisation follows lm-evaluation-harness's HFLM (context and context+continuation encoded without
special tokens; trailing spaces of the context move to the continuation; an empty context is
replaced by the EOS/BOS token), so the numbers agree with it on the same model and items.
Requests are sorted by length so batches carry little padding, and continuations that are a single
token after a shared context are read from one forward pass of that context.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Loglik:
    logprob: float
    is_greedy: bool
    n_tokens: int


class NativeScorer:
    def __init__(self, model, tokenizer, *, batch_size: int = 64, max_length: int | None = None,
                 progress: Callable[[int], None] | None = None):
        self.model = model.eval()
        self.tok = tokenizer
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        self.max_length = max_length or getattr(model.config, "max_position_embeddings", 2048)
        self.prefix_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.progress = progress or (lambda n: None)

    def encode(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def split_request(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        if not context:
            return [self.prefix_id], self.encode(continuation)
        whole = self.encode(context + continuation)
        ctx = self.encode(context)
        return ctx, whole[len(ctx):]

    # -- log-likelihoods ------------------------------------------------------------------------
    @torch.inference_mode()
    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[Loglik]:
        encoded = [self.split_request(c, x) for c, x in requests]
        out: list[Loglik | None] = [None] * len(encoded)
        # Single-token continuations after the same context: one row per context.
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        multi: list[int] = []
        for i, (ctx, cont) in enumerate(encoded):
            if len(cont) == 1:
                groups[tuple(ctx)].append(i)
            else:
                multi.append(i)
        rows: list[tuple[list[int], list[tuple[int, list[int]]]]] = []  # (input, [(request, continuation)])
        for ctx, members in groups.items():
            rows.append((list(ctx), [(i, encoded[i][1]) for i in members]))
        for i in multi:
            ctx, cont = encoded[i]
            rows.append(((ctx + cont)[:-1], [(i, cont)]))
        rows.sort(key=lambda r: -len(r[0]))
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            inputs = [r[0][-self.max_length :] for r in chunk]
            logprobs = self._forward_logprobs(inputs)
            for b, (inp, members) in enumerate(chunk):
                n = len(inp)
                if len(members) > 1 or len(members[0][1]) == 1:  # single tokens after one context
                    last = logprobs[b, n - 1]
                    targets = torch.tensor([cont[0] for _, cont in members])
                    values = last[targets].tolist()
                    top = int(last.argmax())
                    for (i, _), v, t in zip(members, values, targets.tolist(), strict=True):
                        out[i] = Loglik(v, t == top, 1)
                    continue
                for i, cont in members:
                    pos = torch.arange(n - len(cont), n)
                    lp = logprobs[b, pos]
                    target = torch.tensor(cont)
                    tok_lp = lp.gather(-1, target[:, None]).squeeze(-1)
                    greedy = bool((lp.argmax(-1) == target).all())
                    out[i] = Loglik(float(tok_lp.sum()), greedy, len(cont))
            self.progress(len(chunk))
        return out  # type: ignore[return-value]

    def _forward_logprobs(self, inputs: list[list[int]]) -> torch.Tensor:
        """Right-padded batch -> log-softmax over the vocabulary at every position (float32, CPU)."""
        width = max(len(x) for x in inputs)
        ids = torch.full((len(inputs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, x in enumerate(inputs):
            ids[r, : len(x)] = torch.tensor(x)
            mask[r, : len(x)] = 1
        logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
        return F.log_softmax(logits.float(), dim=-1).cpu()

    # -- rolling log-likelihood (bits per byte) -------------------------------------------------
    @torch.inference_mode()
    def rolling_nll(self, texts: Sequence[str]) -> list[float]:
        """Total NLL (nats) of each text, every token predicted from what precedes it (the first
        from the prefix token). Texts longer than the context window are scored in windows."""
        reqs: list[tuple[int, list[int], int]] = []  # (text index, window tokens, tokens to score)
        for t, text in enumerate(texts):
            toks = [self.prefix_id, *self.encode(text)]
            step = self.max_length
            for s in range(1, len(toks), step):
                window = toks[max(0, s + step - 1 - self.max_length) : s + step]
                scored = min(step, len(toks) - s)
                reqs.append((t, window, scored))
        totals = [0.0] * len(texts)
        order = sorted(range(len(reqs)), key=lambda i: -len(reqs[i][1]))
        for start in range(0, len(order), self.batch_size):
            chunk = [reqs[i] for i in order[start : start + self.batch_size]]
            logprobs = self._forward_logprobs([w[:-1] for _, w, _ in chunk])
            for b, (t, window, scored) in enumerate(chunk):
                n = len(window) - 1
                pos = torch.arange(n - scored, n)
                target = torch.tensor(window[1:])[pos]
                totals[t] -= float(logprobs[b, pos].gather(-1, target[:, None]).sum())
            self.progress(len(chunk))
        return totals

    def bits_per_byte(self, texts: Sequence[str]) -> float:
        nll = sum(self.rolling_nll(texts))
        return nll / math.log(2) / sum(len(t.encode("utf-8")) for t in texts)

    # -- generation -----------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, stop: Sequence[str] = ()) -> list[str]:
        """Greedy continuations, cut at the first stop string (and at EOS)."""
        encoded = [self.encode(p)[-(self.max_length - max_new_tokens) :] for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
        out: list[str] = [""] * len(prompts)
        eos = self.tok.eos_token_id
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = max(len(encoded[i]) for i in idx)
            ids = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, i in enumerate(idx):  # left padding
                ids[r, width - len(encoded[i]) :] = torch.tensor(encoded[i])
                mask[r, width - len(encoded[i]) :] = 1
            gen = self.model.generate(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device), max_new_tokens=max_new_tokens,
                do_sample=False, pad_token_id=self.pad_id, eos_token_id=eos,
            )
            for r, i in enumerate(idx):
                new = gen[r, width:].tolist()
                if eos in new:
                    new = new[: new.index(eos)]
                text = self.tok.decode(new, skip_special_tokens=True)
                out[i] = cut_at_stop(text, stop)
            self.progress(len(idx))
        return out


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    cut = len(text)
    for s in stop:
        j = text.find(s)
        if j != -1:
            cut = min(cut, j)
    return text[:cut]


@torch.inference_mode()
def greedy_token_ids(scorer: NativeScorer, prompts: Sequence[str], max_new_tokens: int) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids) of greedy responses; a response keeps its EOS if it emitted one."""
    eos = scorer.tok.eos_token_id
    encoded = [scorer.encode(p) for p in prompts]
    out: list[tuple[list[int], list[int]]] = [([], [])] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    for start in range(0, len(order), scorer.batch_size):
        idx = order[start : start + scorer.batch_size]
        width = max(len(encoded[i]) for i in idx)
        ids = torch.full((len(idx), width), scorer.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, i in enumerate(idx):
            ids[r, width - len(encoded[i]) :] = torch.tensor(encoded[i])
            mask[r, width - len(encoded[i]) :] = 1
        gen = scorer.model.generate(
            input_ids=ids.to(scorer.device), attention_mask=mask.to(scorer.device), max_new_tokens=max_new_tokens,
            do_sample=False, pad_token_id=scorer.pad_id, eos_token_id=eos,
        )
        for r, i in enumerate(idx):
            new = gen[r, width:].tolist()
            if eos in new:
                new = new[: new.index(eos) + 1]
            out[i] = (encoded[i], new)
    return out
