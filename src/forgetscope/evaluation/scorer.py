"""The native batched scorer: log-likelihoods of continuations, greedy generation, bits per byte.

Tokenisation follows lm-evaluation-harness's HFLM (0.4.13): context and context+continuation are
encoded with the tokenizer's own special tokens (a Llama-style tokenizer adds BOS), unless the text
already starts with the prefix token's text (a chat template that writes BOS itself); trailing spaces
of the context move to the continuation; an empty context is replaced by the BOS (else EOS) token.
So the numbers agree with lm-eval on the same model and items (tests/test_lm_eval_agreement.py).
Requests are sorted by length so batches carry little padding, and continuations that are a single
token after a shared context are read from one forward pass of that context.
"""

from __future__ import annotations

import functools
import inspect
import math
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import StoppingCriteria, StoppingCriteriaList

from forgetscope import precision


@dataclass
class Loglik:
    logprob: float
    is_greedy: bool
    n_tokens: int


# NativeScorer.split_requests's memo: tokenizer -> {(requests, ...): split}; a few request lists each.
_SPLITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SPLITS_PER_TOKENIZER = 8


class NativeScorer:
    def __init__(self, model, tokenizer, *, batch_size: int = 64, max_length: int | None = None,
                 progress: Callable[[int], None] | None = None, share_prefix: bool = True,
                 mixed_precision: str | None = None):
        self.model = model.eval()
        self.tok = tokenizer
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        # bf16 autocast of the forward passes (forgetscope.precision): None = this process's setting
        # (a study's eval.mixed_precision); `auto` = bf16 for a real model on bf16 hardware.
        self.mixed_precision = precision.resolve(mixed_precision or precision.scoring(), self.device, model)
        self.max_length = max_length or getattr(model.config, "max_position_embeddings", 2048)
        self.prefix_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.prefix_text = tokenizer.decode(self.prefix_id) if self.prefix_id is not None else None
        self.progress = progress or (lambda n: None)
        self.share_prefix = share_prefix  # see _shared_context; False: one full row per request
        self.share_prefix_min_tokens = 64  # context tokens a shared pass must save (short prompts: batching wins)

    def encode(self, text: str) -> list[int]:
        """A context as HFLM encodes it: the tokenizer's special tokens, unless the text starts with them."""
        return self.encode_many([text])[0]

    def encode_plain(self, text: str) -> list[int]:
        return self.encode_many([text], plain=True)[0]

    def encode_many(self, texts: Sequence[str], *, plain: bool = False) -> list[list[int]]:
        """`encode` (or `encode_plain`) of many texts: each distinct text once, in batched tokenizer calls."""
        flags: dict[str, bool] = {}
        for t in texts:
            if t not in flags:
                flags[t] = not plain and not (self.prefix_text is not None and t.startswith(self.prefix_text))
        ids: dict[str, list[int]] = {}
        for special in (False, True):
            group = [t for t, f in flags.items() if f == special]
            if group:
                ids.update(zip(group, self.tok(group, add_special_tokens=special)["input_ids"], strict=True))
        return [ids[t] for t in texts]

    def split_requests(self, requests: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        """(context ids, continuation ids) per request, as HFLM splits them: trailing spaces of the
        context move to the continuation; the continuation is what encoding context + continuation adds.
        The split of a request list is kept per tokenizer object (the same items are scored on every
        model of a seed: tokenising them again was a fifth of an evaluation), so the returned pairs
        are shared and must not be changed."""
        key = (tuple(requests), len(self.tok), self.prefix_id, self.prefix_text)
        try:
            memo = _SPLITS.setdefault(self.tok, {})
        except TypeError:  # a tokenizer that cannot be weakly referenced: no memo
            return self._split_requests(requests)
        if key not in memo:
            if len(memo) >= _SPLITS_PER_TOKENIZER:
                memo.clear()
            memo[key] = self._split_requests(requests)
        return list(memo[key])

    def _split_requests(self, requests: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        moved = []
        for context, continuation in requests:
            n_spaces = len(context) - len(context.rstrip())
            if n_spaces:
                continuation = context[-n_spaces:] + continuation
                context = context[:-n_spaces]
            moved.append((context, continuation))
        full = [(c, x) for c, x in moved if c]
        enc = iter(self.encode_many([t for c, x in full for t in (c, c + x)]))
        plain = iter(self.encode_many([x for c, x in moved if not c], plain=True))
        out = []
        for context, _ in moved:
            if not context:
                cont = next(plain)
                if cont and cont[0] == self.prefix_id:  # as HFLM: a leading prefix token is the context itself
                    out.append((cont[:1], cont[1:]))
                else:
                    out.append(([self.prefix_id], cont))
                continue
            ctx, whole = next(enc), next(enc)
            out.append((ctx, whole[len(ctx):]))
        return out

    # -- log-likelihoods ------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[Loglik]:
        with torch.inference_mode():
            encoded = self.split_requests(requests)
            out: list[Loglik | None] = [None] * len(encoded)
            # Single-token continuations after the same context: one row per context.
            groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
            shared: dict[tuple[int, ...], list[int]] = defaultdict(list)
            for i, (ctx, cont) in enumerate(encoded):
                if len(cont) == 1:
                    groups[tuple(ctx)].append(i)
                else:
                    shared[tuple(ctx)].append(i)
            multi: list[int] = []
            for ctx, members in shared.items():
                # Longer continuations after one long context (a few-shot prompt): the context's keys/values
                # are computed once, when that saves more tokens than the extra forward pass costs.
                saved = (len(members) - 1) * len(ctx)
                fits = len(ctx) + max(len(encoded[i][1]) for i in members) <= self.max_length
                if not (self.share_prefix and saved >= self.share_prefix_min_tokens and fits
                        and self._shared_context(list(ctx), [(i, encoded[i][1]) for i in members], out)):
                    multi += members
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
                # Only the positions that predict continuation tokens go through the output layer.
                width = max(len(x) for x in inputs)
                first = min(len(x) - max(len(c) for _, c in members) for x, (_, members) in zip(inputs, chunk, strict=True))
                keep = width - max(first, 0)
                logprobs = self.forward_logprobs(inputs, keep=keep)
                offset = width - keep
                for b, (inp, (_, members)) in enumerate(zip(inputs, chunk, strict=True)):  # inp: as truncated
                    n = len(inp) - offset
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

    def _shared_context(self, ctx: list[int], members: list[tuple[int, list[int]]], out: list) -> bool:
        """Continuations of two or more tokens after one context: one pass over the context keeps its
        keys/values, one batched pass over the continuations reads them (the few-shot prefix is not
        recomputed for every choice). Same numbers as one row per request, up to float rounding.
        False (nothing scored) if the model returns no cache that can be repeated over a batch."""
        if self._cache_kwarg is None:
            self.share_prefix = False
            return False
        keep = {"logits_to_keep": 1} if self._keeps_logits else {}
        with self._autocast():
            first = self.model(input_ids=torch.tensor([ctx], device=self.device), use_cache=True, **keep)
        cache = getattr(first, "cache", None)
        if cache is None:
            cache = getattr(first, "past_key_values", None)
        if not hasattr(cache, "batch_repeat_interleave"):
            self.share_prefix = False
            return False
        head = F.log_softmax(first.logits[0, -1].float(), dim=-1).cpu()
        conts = [cont for _, cont in members]
        width = max(len(c) for c in conts) - 1
        ids = torch.full((len(conts), width), self.pad_id, dtype=torch.long)
        for r, c in enumerate(conts):  # right padding: a causal model never attends to it
            ids[r, : len(c) - 1] = torch.tensor(c[:-1])
        cache.batch_repeat_interleave(len(conts))
        with self._autocast():
            rest = self.model(input_ids=ids.to(self.device), use_cache=False, **{self._cache_kwarg: cache}).logits
        rest = F.log_softmax(rest.float(), dim=-1).cpu()
        for r, (i, cont) in enumerate(members):
            lp = torch.cat([head[None], rest[r, : len(cont) - 1]])
            target = torch.tensor(cont)
            tok_lp = lp.gather(-1, target[:, None]).squeeze(-1)
            out[i] = Loglik(float(tok_lp.sum()), bool((lp.argmax(-1) == target).all()), len(cont))
        self.progress(1)
        return True

    def forward_logprobs(self, inputs: list[list[int]], keep: int | None = None) -> torch.Tensor:
        """Right-padded batch -> log-softmax over the vocabulary (float32, CPU) at every position, or
        at the last `keep` positions of the padded width (the output layer then runs on those only).
        No attention mask, as HFLM: in a causal model the padding after a row's tokens cannot affect
        them, and the unmasked causal path is the fast one."""
        width = max(len(x) for x in inputs)
        ids = torch.full((len(inputs), width), self.pad_id, dtype=torch.long)
        for r, x in enumerate(inputs):
            ids[r, : len(x)] = torch.tensor(x)
        kwargs = {}
        if keep is not None and keep < width and self._keeps_logits:
            kwargs = {"logits_to_keep": keep}
        with self._autocast():
            logits = self.model(input_ids=ids.to(self.device), **kwargs).logits
        if keep is not None:
            logits = logits[:, -keep:]
        return F.log_softmax(logits.float(), dim=-1).cpu()

    def _autocast(self):
        return precision.autocast(self.mixed_precision, self.device)

    @functools.cached_property
    def _forward_params(self):
        """The keywords the model's forward declares. A PEFT model's forward passes its keywords on
        to its base model's, so that one's are read (the cache and `logits_to_keep` reach it)."""
        model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return inspect.signature(model.forward).parameters

    @functools.cached_property
    def _cache_kwarg(self) -> str | None:
        """The forward's keyword for a key/value cache: `cache` (transformers' name since 5.2x),
        `past_key_values` (the old one, deprecated, gone in 5.40), or None, and then no shared-context
        path: a keyword the forward took into **kwargs unread would score the continuations without
        their context, silently."""
        return next((k for k in ("cache", "past_key_values") if k in self._forward_params), None)

    @functools.cached_property
    def _keeps_logits(self) -> bool:
        """Whether the model's forward takes `logits_to_keep` (most transformers causal LMs do):
        then the output layer runs on the positions read only."""
        return "logits_to_keep" in self._forward_params

    # -- rolling log-likelihood (bits per byte) -------------------------------------------------
    def rolling_nll(self, texts: Sequence[str]) -> list[float]:
        """Total NLL (nats) of each text, every token predicted from what precedes it (the first
        from the prefix token). Texts longer than the context window are scored in windows."""
        return self._rolling(texts)[0]

    def rolling_token_nll(self, texts: Sequence[str]) -> list[list[float]]:
        """The NLL (nats) of every token of each text, as `rolling_nll` scores them (not summed),
        aligned with the text's plain encoding (`tokenizer(text, add_special_tokens=False)`)."""
        return self._rolling(texts, per_token=True)[1]

    def _rolling(self, texts: Sequence[str], per_token: bool = False) -> tuple[list[float], list[list[float]]]:
        with torch.inference_mode():
            reqs: list[tuple[int, list[int], int, int]] = []  # (text index, window tokens, tokens to score, first scored)
            plain = self.encode_many(texts, plain=True)
            for t, text in enumerate(texts):
                toks = [self.prefix_id, *plain[t]]
                step = self.max_length
                for s in range(1, len(toks), step):
                    window = toks[max(0, s + step - 1 - self.max_length) : s + step]
                    scored = min(step, len(toks) - s)
                    reqs.append((t, window, scored, s - 1))
            totals = [0.0] * len(texts)
            tokens = [[0.0] * len(p) for p in plain] if per_token else []
            order = sorted(range(len(reqs)), key=lambda i: -len(reqs[i][1]))
            for start in range(0, len(order), self.batch_size):
                chunk = [reqs[i] for i in order[start : start + self.batch_size]]
                logprobs = self.forward_logprobs([w[:-1] for _, w, _, _ in chunk])
                for b, (t, window, scored, first) in enumerate(chunk):
                    n = len(window) - 1
                    pos = torch.arange(n - scored, n)
                    target = torch.tensor(window[1:])[pos]
                    lp = logprobs[b, pos].gather(-1, target[:, None])
                    totals[t] -= float(lp.sum())
                    if per_token:
                        tokens[t][first : first + scored] = (-lp[:, 0]).tolist()
                self.progress(len(chunk))
            return totals, tokens

    def bits_and_bytes(self, texts: Sequence[str]) -> tuple[float, int]:
        """Total bits (NLL / ln 2) over the texts and their total UTF-8 bytes."""
        return sum(self.rolling_nll(texts)) / math.log(2), sum(len(t.encode("utf-8")) for t in texts)

    def bits_per_byte(self, texts: Sequence[str]) -> float:
        """Total bits over total bytes (not a mean of per-text ratios)."""
        bits, n_bytes = self.bits_and_bytes(texts)
        return bits / n_bytes

    # -- generation -----------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, stop: Sequence[str] = ()) -> list[str]:
        """Greedy continuations, cut at the first stop string (and at EOS)."""
        with torch.inference_mode():
            encoded = [e[-(self.max_length - max_new_tokens) :] for e in self.encode_many(prompts)]
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
                criteria = StoppingCriteriaList([StopOnStrings(self.tok, stop, width)]) if stop else None
                with self._autocast():
                    gen = self.model.generate(
                        input_ids=ids.to(self.device), attention_mask=mask.to(self.device), max_new_tokens=max_new_tokens,
                        do_sample=False, pad_token_id=self.pad_id, eos_token_id=eos, stopping_criteria=criteria,
                    )
                for r, i in enumerate(idx):
                    new = gen[r, width:].tolist()
                    if eos in new:
                        new = new[: new.index(eos)]
                    text = self.tok.decode(new, skip_special_tokens=True)
                    out[i] = cut_at_stop(text, stop)
                self.progress(len(idx))
            return out


class StopOnStrings(StoppingCriteria):
    """Ends a row's generation once its new text holds a stop string (as HFLM does), instead of
    generating all `max_new_tokens` and cutting afterwards; the text up to the stop is the same."""

    def __init__(self, tokenizer, stop: Sequence[str], prompt_width: int):
        self.tok, self.stop, self.width = tokenizer, list(stop), prompt_width

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        texts = self.tok.batch_decode(input_ids[:, self.width :], skip_special_tokens=True)
        done = [any(s in t for s in self.stop) for t in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    cut = len(text)
    for s in stop:
        j = text.find(s)
        if j != -1:
            cut = min(cut, j)
    return text[:cut]


def greedy_token_ids(scorer: NativeScorer, prompts: Sequence[str], max_new_tokens: int) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids) of greedy responses; a response keeps its EOS if it emitted one."""
    with torch.inference_mode():
        eos = scorer.tok.eos_token_id
        encoded = scorer.encode_many(prompts)
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
            with scorer._autocast():
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
