"""The native scorer against a brute-force, one-item-at-a-time computation on the same model."""

import math

import pytest
import torch

from forgetscope.evaluation.scorer import NativeScorer, cut_at_stop


def brute_loglik(model, tok, context: str, continuation: str) -> tuple[float, bool]:
    ctx = tok(context, add_special_tokens=False)["input_ids"]
    whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
    cont = whole[len(ctx):]
    total, greedy = 0.0, True
    with torch.no_grad():
        for k, t in enumerate(cont):  # one forward per token, no batching, no padding
            ids = torch.tensor([ctx + cont[:k]])
            logp = torch.log_softmax(model(input_ids=ids).logits[0, -1].double(), -1)
            total += float(logp[t])
            greedy &= int(logp.argmax()) == t
    return total, greedy


def test_loglikelihood_matches_brute_force(tiny_lm):
    model, tok = tiny_lm
    reqs = [
        ("alice-baker was born in", " paris"),
        ("alice-baker was born in", " lisbon"),  # shares the context: read from one row
        ("the employer of bruno-costa is", " acme"),
        ("what is 4 plus", " 7 ?"),  # multi-token continuation
        ("task : repeat | input : a", " b c | output : a b c"),
        ("", "paris is"),  # empty context: the prefix token
    ]
    got = NativeScorer(model, tok, batch_size=2).loglikelihood(reqs)
    for (c, x), g in zip(reqs, got, strict=True):
        if c == "":
            ctx = [tok.eos_token_id]
            cont = tok(x, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=torch.tensor([ctx + cont])).logits[0].double(), -1)
            want = sum(float(logp[i, t]) for i, t in enumerate(cont))
        else:
            want, greedy = brute_loglik(model, tok, c, x)
            assert g.is_greedy == greedy
        assert g.logprob == pytest.approx(want, abs=1e-4)


def test_batching_does_not_change_numbers(tiny_lm):
    model, tok = tiny_lm
    reqs = [(f"the pet of {n} is called", f" {v}") for n in ("alice-baker", "bruno-costa", "nora-xu") for v in ("biscuit", "kiwi", "tofu")]
    reqs += [("what is 5 plus", " 9 ?"), ("task : last word | input : x", " y")]
    one = NativeScorer(model, tok, batch_size=1).loglikelihood(reqs)
    many = NativeScorer(model, tok, batch_size=64).loglikelihood(reqs)
    for a, b in zip(one, many, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)


def test_rolling_nll_and_bits_per_byte_match_brute_force(tiny_lm):
    model, tok = tiny_lm
    texts = ["alice-baker was born in paris .", "the employer of nora-xu is acme . nora-xu studied at oakridge ."]
    sc = NativeScorer(model, tok, batch_size=4)
    nll = sc.rolling_nll(texts)
    for text, got in zip(texts, nll, strict=True):
        ids = [tok.eos_token_id] + tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
        want = -sum(float(logp[i - 1, ids[i]]) for i in range(1, len(ids)))
        assert got == pytest.approx(want, abs=1e-4)
    bpb = sc.bits_per_byte(texts)
    assert bpb == pytest.approx(sum(nll) / math.log(2) / sum(len(t.encode()) for t in texts))


def test_rolling_nll_windows_long_texts(tiny_lm):
    model, tok = tiny_lm
    text = " ".join(["alice-baker works for acme ."] * 20)  # 100 tokens
    short = NativeScorer(model, tok, batch_size=4, max_length=32).rolling_nll([text])[0]
    assert math.isfinite(short) and short > 0  # scored in windows, every token once


def test_greedy_generation_matches_a_plain_loop(tiny_lm):
    model, tok = tiny_lm
    prompts = ["<user> what is the employer of alice-baker ? <assistant>", "alice-baker was born in", "task : repeat | input : a b"]
    got = NativeScorer(model, tok, batch_size=2).generate(prompts, max_new_tokens=5)
    for p, g in zip(prompts, got, strict=True):
        ids = tok(p, add_special_tokens=False)["input_ids"]
        out = []
        with torch.no_grad():
            for _ in range(5):
                nxt = int(model(input_ids=torch.tensor([ids + out])).logits[0, -1].argmax())
                if nxt == tok.eos_token_id:
                    break
                out.append(nxt)
        assert g == tok.decode(out, skip_special_tokens=True)


def test_cut_at_stop():
    assert cut_at_stop("paris\nlisbon", ["\n"]) == "paris"
    assert cut_at_stop("a b . c", [" .", "\n"]) == "a b"
    assert cut_at_stop("abc", []) == "abc"
