"""The native scorer against a brute-force, one-item-at-a-time computation on the same model."""

import inspect
import math
from types import SimpleNamespace

import pytest
import torch

from forgetscope.evaluation.scorer import NativeScorer, cut_at_stop


@pytest.fixture(scope="module")
def sharp_lm(tiny_lm):
    """The tiny model with its matrices scaled up: attention that is far from uniform, so a number
    computed from the wrong context differs clearly from the right one."""
    import copy

    model, tok = tiny_lm
    sharp = copy.deepcopy(model)
    with torch.no_grad():
        for p in sharp.parameters():
            if p.dim() > 1:
                p.mul_(6.0)
    return sharp.eval(), tok


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


def _scored_with_passes(model, tok, reqs):
    """(the scorer, its loglikelihood of `reqs`, the input shape of every forward pass `model` saw)."""
    passes = []
    hook = model.register_forward_hook(lambda m, a, k, o: passes.append(tuple(k["input_ids"].shape)), with_kwargs=True)
    sc = NativeScorer(model, tok, batch_size=8)
    try:
        got = sc.loglikelihood(reqs)
    finally:
        hook.remove()
    return sc, got, passes


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


def _brute_rolling_nll(model, ids: list[int], window: int) -> float:
    """NLL of ids[1:], one forward per token: token i sees the tokens of its window before it, where
    windows of `window` predicted tokens follow each other (i = 1..window, window+1..2 window, ...)
    and each starts from the token just before its first predicted token (lm-eval's rolling windows)."""
    total = 0.0
    with torch.no_grad():
        for i in range(1, len(ids)):
            start = ((i - 1) // window) * window
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids[start:i]])).logits[0, -1].double(), -1)
            total -= float(logp[ids[i]])
    return total


def test_rolling_nll_windows_long_texts_match_brute_force(sharp_lm):
    """Texts shorter than, as long as, one token longer than and several times the context window:
    every token scored exactly once, from the context its window gives it."""
    model, tok = sharp_lm
    L = 12
    words = " ".join(["alice-baker works for acme ."] * 12).split()
    texts, lengths = [], []
    for n_tokens in (L - 1, L, L + 1, 2 * L, 3 * L + 5):  # tokens after the prefix token
        text = next(" ".join(words[:k]) for k in range(1, len(words)) if len(tok(" ".join(words[:k]), add_special_tokens=False)["input_ids"]) >= n_tokens)
        texts.append(text)
        lengths.append(len(tok(text, add_special_tokens=False)["input_ids"]))
    assert lengths[0] < L <= lengths[1] and lengths[-1] > 3 * L
    got = NativeScorer(model, tok, batch_size=3, max_length=L).rolling_nll(texts)
    for text, g in zip(texts, got, strict=True):
        ids = [tok.eos_token_id] + tok(text, add_special_tokens=False)["input_ids"]
        assert g == pytest.approx(_brute_rolling_nll(model, ids, L), abs=1e-4), text
    whole = NativeScorer(model, tok, batch_size=3).rolling_nll(texts[-1:])[0]  # one window: another number
    assert abs(whole - got[-1]) > 1e-2


def test_loglikelihood_truncates_long_contexts_from_the_left(sharp_lm):
    """A context longer than max_length keeps its last tokens: the model sees the last max_length
    tokens of context + continuation (less the last), as lm-eval's HFLM does."""
    model, tok = sharp_lm
    L = 10
    ctx = "alice-baker works for acme . the pet of alice-baker is called"
    reqs = [(ctx, " biscuit"), (ctx, " kiwi"), (ctx, " biscuit . alice-baker works")]
    got = NativeScorer(model, tok, batch_size=2, max_length=L).loglikelihood(reqs)
    for (c, x), g in zip(reqs, got, strict=True):
        c_ids = tok(c, add_special_tokens=False)["input_ids"]
        cont = tok(c + x, add_special_tokens=False)["input_ids"][len(c_ids):]
        window = (c_ids + cont)[:-1][-L:]
        assert len(c_ids) > L
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([window])).logits[0].double(), -1)
        want = sum(float(logp[len(window) - len(cont) + k, t]) for k, t in enumerate(cont))
        assert g.logprob == pytest.approx(want, abs=1e-4) and g.n_tokens == len(cont)
        untruncated = brute_loglik(model, tok, c, x)[0]
        assert abs(untruncated - g.logprob) > 1e-3  # the truncation changed the number: the test can tell


def test_shared_long_context_equals_one_row_per_request(sharp_lm):
    """Multi-token continuations after one long context (computed once, its keys and values reused)
    give the brute-force numbers, greedy flags included."""
    model, tok = sharp_lm
    ctx = " ".join(["alice-baker works for acme . the pet of nora-xu is called kiwi ."] * 5) + " alice-baker was born in"
    assert len(tok(ctx, add_special_tokens=False)["input_ids"]) >= 64
    greedy_cont = " " + NativeScorer(model, tok).generate([ctx], max_new_tokens=3)[0]  # the model's own answer
    conts = [" paris . nora-xu", " lisbon is", greedy_cont, " acme works for", " paris"]
    sc, got, passes = _scored_with_passes(model, tok, [(ctx, x) for x in conts])
    assert sc.share_prefix  # the model returned a cache that could be reused
    # the long context once, its four multi-token continuations in one batch, " paris" (one token) in another
    assert len(passes) == 3 and sorted(p[0] for p in passes) == [1, 1, 4]
    assert [g.is_greedy for g in got].count(True) >= 1
    for x, g in zip(conts, got, strict=True):
        want, greedy = brute_loglik(model, tok, ctx, x)
        assert g.logprob == pytest.approx(want, abs=1e-4) and g.is_greedy == greedy
        assert g.n_tokens == len(tok(ctx + x, add_special_tokens=False)["input_ids"]) - len(tok(ctx, add_special_tokens=False)["input_ids"])
    plain = NativeScorer(model, tok, batch_size=8, share_prefix=False).loglikelihood([(ctx, x) for x in conts])
    assert [round(a.logprob, 4) for a in plain] == [round(b.logprob, 4) for b in got]


def test_greedy_continuation_is_flagged(tiny_lm):
    """is_greedy is true exactly for the continuation the model would generate."""
    model, tok = tiny_lm
    sc = NativeScorer(model, tok)
    ctx = "alice-baker was born in"
    gen = sc.generate([ctx], max_new_tokens=3)[0]
    ids = tok(ctx, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        top = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
        second = int(model(input_ids=torch.tensor([ids])).logits[0, -1].topk(2).indices[1])
    one, two = sc.loglikelihood([(ctx, " " + tok.decode([top]).strip()), (ctx, " " + tok.decode([second]).strip())])
    assert one.is_greedy and not two.is_greedy and one.logprob > two.logprob
    multi = sc.loglikelihood([(ctx, " " + gen.strip())])[0]
    assert multi.is_greedy and multi.n_tokens == len(tok(ctx + " " + gen.strip(), add_special_tokens=False)["input_ids"]) - len(ids)


def test_generation_truncates_long_prompts_from_the_left(sharp_lm):
    model, tok = sharp_lm
    L, new = 14, 4
    prompt = "alice-baker works for acme . the pet of nora-xu is called kiwi . alice-baker was born in"
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    assert len(ids) > L
    got = NativeScorer(model, tok, max_length=L).generate([prompt, "alice-baker was born in"], max_new_tokens=new)
    kept, out = ids[-(L - new):], []
    with torch.no_grad():
        for _ in range(new):
            nxt = int(model(input_ids=torch.tensor([kept + out])).logits[0, -1].argmax())
            if nxt == tok.eos_token_id:
                break
            out.append(nxt)
    assert got[0] == tok.decode(out, skip_special_tokens=True)


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
    assert cut_at_stop("a\nb\nc", ["\n"]) == "a"  # the first occurrence
    assert cut_at_stop("a . b\nc", ["\n", " ."]) == "a"  # the earliest of several stops


def test_progress_counts_the_work_done(tiny_lm):
    """The progress callback receives how many rows (requests, windows, prompts) each batch finished."""
    model, tok = tiny_lm
    seen = []
    sc = NativeScorer(model, tok, batch_size=2, max_length=8, progress=seen.append)
    reqs = [(f"the pet of {n} is called", " biscuit . x") for n in ("alice-baker", "bruno-costa", "nora-xu")]
    sc.loglikelihood(reqs)
    assert seen == [2, 1]  # three rows in batches of two
    seen.clear()
    text = " ".join(["alice-baker works for acme ."] * 4)  # 20 tokens + the prefix: three windows of 8
    sc.rolling_nll([text])
    assert sum(seen) == 3 and seen == [2, 1]
    seen.clear()
    sc.generate(["alice-baker was", "nora-xu is", "what is"], max_new_tokens=2)
    assert seen == [2, 1]


def test_encoding_helpers_follow_hflm(tiny_lm):
    """encode: the tokenizer's special tokens (here a BOS) unless the text starts with the prefix
    token's text; encode_plain: none; split_request: trailing spaces of the context move to the
    continuation, an empty context becomes the prefix token."""
    from test_lm_eval_agreement import bos_tokenizer

    model, world_tok = tiny_lm
    tok = bos_tokenizer(world_tok)
    bos = tok.bos_token_id
    sc = NativeScorer(model, tok)
    plain = tok("alice-baker was", add_special_tokens=False)["input_ids"]
    assert sc.encode("alice-baker was") == [bos, *plain]
    assert sc.encode_plain("alice-baker was") == plain
    assert sc.encode("<user> alice-baker was") == tok("<user> alice-baker was", add_special_tokens=False)["input_ids"]
    ctx, cont = sc.split_requests([("alice-baker was born in ", "paris")])[0]
    assert ctx == [bos, *tok("alice-baker was born in", add_special_tokens=False)["input_ids"]]
    assert ctx + cont == [bos, *tok("alice-baker was born in paris", add_special_tokens=False)["input_ids"]]
    assert sc.split_requests([("", "paris is")])[0] == ([bos], tok("paris is", add_special_tokens=False)["input_ids"])
    # rolling NLL: the prefix token, then the text without special tokens (no second BOS)
    text = "alice-baker was born in paris ."
    ids = [bos, *tok(text, add_special_tokens=False)["input_ids"]]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
    assert sc.rolling_nll([text])[0] == pytest.approx(-sum(float(logp[i - 1, ids[i]]) for i in range(1, len(ids))), abs=1e-4)


def scripted_lm(tok, chain: dict[str, str], default: str):
    """A Llama whose greedy next token is a function of the last token alone, written by hand: the
    decoder layers add nothing (their output projections are zero), the embedding gives each token
    of `chain` its own axis and every other token one shared axis, and the output layer maps each
    axis to the chosen next token (`chain[token]`, else `default`). "<eos>" names the EOS token. Its
    generation config samples (as many released models' do) and names no EOS: only what the scorer
    passes to `generate` makes it greedy and stops it."""
    from forgetscope.models import TinyModelConfig, build_tiny_model

    def tid(word: str) -> int:
        return tok.eos_token_id if word == "<eos>" else tok.convert_tokens_to_ids(word)

    model = build_tiny_model(TinyModelConfig(layers=1, hidden=32, heads=2), tok, seed=0).eval()
    hidden = model.config.hidden_size
    sources = list(chain)
    assert len(sources) < hidden
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        emb = model.model.embed_tokens.weight
        emb.zero_()
        emb[:, len(sources)] = 1.0  # the shared axis
        head = torch.nn.Linear(hidden, emb.shape[0], bias=False)
        head.weight.zero_()
        head.weight[tid(default), len(sources)] = 1.0
        for axis, word in enumerate(sources):
            emb[tid(word)] = 0.0
            emb[tid(word), axis] = 1.0
            head.weight[tid(chain[word]), axis] = 1.0
    model.lm_head = head
    model.config.tie_word_embeddings = False
    model.generation_config.eos_token_id = None
    model.generation_config.do_sample = True
    return model, tid


def test_generation_stops_at_the_tokenizers_eos(tiny_lm):
    """On a model scripted to answer `paris <eos> kiwi ...` after "in" and never to emit EOS after
    "is": generate cuts each text at EOS (a row that stopped does not hold back the others), and
    greedy_token_ids keeps the EOS and nothing after it, in a batch with left padding."""
    from forgetscope.evaluation.scorer import greedy_token_ids

    _, tok = tiny_lm
    model, tid = scripted_lm(tok, {"in": "paris", "paris": "<eos>", "<eos>": "kiwi", "is": "lisbon", "lisbon": "acme",
                                   "acme": "tofu", "tofu": "acme"}, default="biscuit")
    prompts = ["alice-baker was born in", "the pet of nora-xu is", "what is 4 plus"]
    with torch.no_grad():  # the script, checked on one forward pass
        for prompt, want in zip(prompts, ["paris", "lisbon", "biscuit"], strict=True):
            ids = tok(prompt, add_special_tokens=False)["input_ids"]
            assert int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()) == tid(want)
    sc = NativeScorer(model, tok, batch_size=8)
    assert sc.generate(prompts, max_new_tokens=4) == ["paris", "lisbon acme tofu acme", "biscuit biscuit biscuit biscuit"]
    got = greedy_token_ids(sc, prompts, max_new_tokens=4)
    assert [g[0] for g in got] == [tok(p)["input_ids"] for p in prompts]
    assert [g[1] for g in got] == [[tid("paris"), tok.eos_token_id], [tid(w) for w in ("lisbon", "acme", "tofu", "acme")],
                                   [tid("biscuit")] * 4]
    # EOS as the very first token: an empty text, a response of the EOS alone
    model, tid = scripted_lm(tok, {"in": "<eos>", "<eos>": "kiwi"}, default="biscuit")
    sc = NativeScorer(model, tok, batch_size=8)
    assert sc.generate(prompts[:2], max_new_tokens=3) == ["", "biscuit biscuit biscuit"]
    assert [g[1] for g in greedy_token_ids(sc, prompts[:2], max_new_tokens=3)] == [[tok.eos_token_id], [tid("biscuit")] * 3]


def test_generation_stops_at_a_stop_string_mid_batch(tiny_lm):
    """A stop string ends the text before it; the other rows of the batch go on to their budget. The
    first prompt holds the stop string itself: only the new text counts."""
    _, tok = tiny_lm
    model, _ = scripted_lm(tok, {"in": "paris", "paris": "lisbon", "lisbon": "acme", "is": "tofu", "tofu": "kiwi"},
                           default="biscuit")
    sc = NativeScorer(model, tok, batch_size=8)
    got = sc.generate(["paris works for acme . alice-baker was born in", "the pet of nora-xu is"], max_new_tokens=5, stop=[" acme"])
    assert got == ["paris lisbon", "tofu kiwi biscuit biscuit biscuit"]


def _plain_greedy(model, ids: list[int], n: int, eos: int) -> list[int]:
    out: list[int] = []
    with torch.no_grad():
        for _ in range(n):
            nxt = int(model(input_ids=torch.tensor([ids + out])).logits[0, -1].argmax())
            out.append(nxt)
            if nxt == eos:
                break
    return out


def test_left_padded_batches_generate_as_one_prompt_at_a_time(sharp_lm):
    """Prompts of very different lengths in one batch (left padding up to the longest): each greedy
    response equals a plain loop over that prompt alone. The tokenizer has no pad token, so the
    padding is the EOS token, from which `generate` cannot infer a mask: the scorer's own attention
    mask is what keeps the padded rows right (without it they answer otherwise, checked below)."""
    import copy

    from forgetscope.evaluation.scorer import greedy_token_ids

    model, tok = sharp_lm
    tok = copy.deepcopy(tok)
    tok.pad_token = None
    prompts = ["in", "alice-baker was born in", "what is 4 plus", "the pet of nora-xu is called kiwi . alice-baker works for acme . nora-xu was born in"]
    n = 5
    sc = NativeScorer(model, tok, batch_size=8)
    assert sc.pad_id == tok.eos_token_id
    want = [_plain_greedy(model, tok(p)["input_ids"], n, tok.eos_token_id) for p in prompts]
    got = greedy_token_ids(sc, prompts, n)
    assert [g[1] for g in got] == want
    texts = sc.generate(prompts, max_new_tokens=n)
    assert texts == [tok.decode([t for t in w if t != tok.eos_token_id], skip_special_tokens=True) for w in want]
    # the test can tell: the same batch without its attention mask answers otherwise for a padded row
    enc = [tok(p)["input_ids"] for p in prompts]
    width = max(map(len, enc))
    ids = torch.tensor([[sc.pad_id] * (width - len(e)) + e for e in enc])
    with torch.no_grad():
        unmasked = model.generate(input_ids=ids, max_new_tokens=n, do_sample=False, pad_token_id=sc.pad_id,
                                  eos_token_id=tok.eos_token_id)[:, width:].tolist()
    assert any(u[: len(w)] != w for u, w in zip(unmasked, want, strict=True))


def test_split_requests_memo_is_the_fresh_split_and_follows_the_tokenizer(tiny_lm):
    """The split of a request list is kept per tokenizer (a seed scores the same items on every
    model): a second scorer of that tokenizer gives the same pairs without tokenising again; a
    tokenizer that gained a token (its encodings may change) is split afresh."""
    import copy

    model, world_tok = tiny_lm
    tok = copy.deepcopy(world_tok)
    requests = [("alice-baker was born in ", "paris"), ("", "paris is"), ("nora-xu works for", " acme .")]
    first = NativeScorer(model, tok).split_requests(requests)
    assert first == NativeScorer(model, tok)._split_requests(requests)  # the memo holds the fresh split
    calls = []
    real = tok._encode_plus
    tok._encode_plus = lambda *a, **k: calls.append(1) or real(*a, **k)
    assert NativeScorer(model, tok).split_requests(requests) == first and calls == []  # no tokenising
    assert NativeScorer(model, tok).split_requests(requests[:2]) == first[:2] and calls  # another list: split
    calls.clear()
    tok.add_tokens(["paris is"])  # now one token: the old split would be wrong
    again = NativeScorer(model, tok).split_requests(requests)
    assert calls and again[1] == ([tok.eos_token_id if tok.bos_token_id is None else tok.bos_token_id], tok("paris is", add_special_tokens=False)["input_ids"])
    assert len(again[1][1]) == 1 and again[1] != first[1]


def _brute_token_nll(model, ids: list[int], window: int) -> list[float]:
    """NLL of each of ids[1:], one forward per token, with the windows of _brute_rolling_nll."""
    out = []
    with torch.no_grad():
        for i in range(1, len(ids)):
            start = ((i - 1) // window) * window
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids[start:i]])).logits[0, -1].double(), -1)
            out.append(-float(logp[ids[i]]))
    return out


def test_rolling_token_nll_matches_brute_force_in_windows(sharp_lm):
    model, tok = sharp_lm
    texts = ["alice-baker works for acme . " * 7 + "alice-baker", "nora-xu was born in paris ."]
    got = NativeScorer(model, tok, batch_size=2, max_length=10).rolling_token_nll(texts)
    assert len(got[0]) > 30  # several windows
    for text, g in zip(texts, got, strict=True):
        ids = [tok.eos_token_id] + tok(text, add_special_tokens=False)["input_ids"]
        assert len(g) == len(ids) - 1
        assert g == pytest.approx(_brute_token_nll(model, ids, 10), abs=1e-4)


def test_heldout_bits_per_byte_skip_untrained_words_brute_force(tiny_lm):
    """Bits/byte over trained tokens, recomputed by hand: one forward pass per text, the untrained
    words' tokens dropped from the bits, and from the bytes each word with the space before it."""
    from forgetscope.evaluation.probe_runner import ProbeSettings
    from forgetscope.evaluation.probes_and_bpb import evaluate_model, heldout_bits

    model, tok = tiny_lm
    rows = [{"text": "alice-baker was born in paris . alice-baker works for acme .", "language": "l1", "untrained": ["alice-baker"]},
            {"text": "the employer of nora-xu is acme .", "language": "l1", "untrained": ["nora-xu", "absent"]},
            {"text": "nora-xu studied at oakridge .", "language": "l2"}]
    sc = NativeScorer(model, tok, batch_size=4)
    _, bpb = evaluate_model(sc, [], rows, ProbeSettings())
    by_lang = {r["language"]: r for r in bpb}
    bits = n_bytes = skipped = 0
    for row in rows[:2]:
        words = row["text"].split()
        ids = [tok.eos_token_id] + tok(row["text"], add_special_tokens=False)["input_ids"]
        assert len(ids) == len(words) + 1  # one token per word
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
        for i, w in enumerate(words):
            if w in row["untrained"]:
                skipped += 1
                continue
            bits -= float(logp[i, ids[i + 1]]) / math.log(2)
            n_bytes += len(w) + (i > 0)  # the word and the space before it
    assert n_bytes == len(" was born in paris .") + len(" works for acme .") + len("the employer of") + len(" is acme .")
    assert (by_lang["l1"]["skipped_tokens"], by_lang["l1"]["bytes"]) == (skipped, n_bytes) == (3, n_bytes)
    assert by_lang["l1"]["bits"] == pytest.approx(bits, abs=1e-4)
    assert by_lang["l1"]["bits_per_byte"] == pytest.approx(bits / n_bytes, rel=1e-5)
    # nothing untrained: the plain total bits over total bytes
    assert by_lang["l2"]["skipped_tokens"] == 0
    assert by_lang["l2"]["bits_per_byte"] == pytest.approx(sc.bits_per_byte([rows[2]["text"]]), rel=1e-6)
    text = rows[0]["text"]
    b, nb, sk = heldout_bits(sc, [text], [[]])
    assert (nb, sk) == (len(text.encode()), 0) and b == pytest.approx(sc.rolling_nll([text])[0] / math.log(2), abs=1e-4)
    # bytes are shared out by token, so a multi-byte word counts its own bytes (L2 punctuation is 3 bytes)
    b, nb, sk = heldout_bits(sc, ["paris 。 acme"], [["acme"]])
    assert (nb, sk) == (len("paris 。".encode()), 1)


def _long_context_requests(tok):
    ctx = " ".join(["alice-baker works for acme . the pet of nora-xu is called kiwi ."] * 5) + " alice-baker was born in"
    assert len(tok(ctx, add_special_tokens=False)["input_ids"]) >= 64
    return [(ctx, x) for x in (" paris . nora-xu", " lisbon is", " acme works for")]


def test_shared_context_falls_back_when_the_model_returns_no_reusable_cache(sharp_lm):
    """A model whose forward returns no cache that can be repeated over a batch: the shared path
    scores nothing and the requests are scored one row each (the brute-force numbers), and sharing
    is not tried again on the next call (no wasted pass over the context)."""
    model, tok = sharp_lm
    reqs = _long_context_requests(tok)
    passes = []

    def no_cache(module, args, kwargs, output):
        passes.append(kwargs["input_ids"].shape)
        output["past_key_values"] = None
        return output

    sc = NativeScorer(model, tok, batch_size=8)
    hook = model.register_forward_hook(no_cache, with_kwargs=True)
    try:
        got = sc.loglikelihood(reqs)
        first_passes = list(passes)
        passes.clear()
        again = sc.loglikelihood(reqs)
    finally:
        hook.remove()
    assert not sc.share_prefix
    assert [p[0] for p in first_passes] == [1, 3]  # the context alone (cache refused), then one batch of three rows
    assert [p[0] for p in passes] == [3]  # next call: straight to the rows
    for (c, x), g, h in zip(reqs, got, again, strict=True):
        want, greedy = brute_loglik(model, tok, c, x)
        assert g.logprob == pytest.approx(want, abs=1e-4) and g.is_greedy == greedy and g.n_tokens == h.n_tokens
        assert h.logprob == pytest.approx(want, abs=1e-4)


def test_progress_counts_a_shared_context_as_one_row(sharp_lm):
    """The shared path (one long context, its multi-token continuations in one batch) reports one
    finished row, as a group of single-token continuations after one context does."""
    model, tok = sharp_lm
    seen = []
    reqs = _long_context_requests(tok)
    sc = NativeScorer(model, tok, batch_size=8, progress=seen.append)
    sc.loglikelihood(reqs + [("what is 4 plus", " 7 ?")])
    assert sc.share_prefix and seen == [1, 1]  # the shared context, then the one other row


def test_stop_strings_do_not_match_skipped_special_tokens(tiny_lm):
    """A stop string that is a special token's text (`<user>`) does not end a row that emits that
    token: the text is read without special tokens, as the final answer is, so stopping early gives
    the same answer as generating to the budget and cutting at the stop afterwards."""
    _, tok = tiny_lm
    assert "<user>" in tok.all_special_tokens
    model, _ = scripted_lm(tok, {"in": "paris", "paris": "<user>", "<user>": "kiwi", "kiwi": "tofu", "tofu": "acme"},
                           default="biscuit")
    sc = NativeScorer(model, tok, batch_size=8)
    prompts = ["alice-baker was born in"]
    full = sc.generate(prompts, max_new_tokens=5)
    assert full == ["paris kiwi tofu acme"]  # <user> is generated and skipped when decoding
    assert sc.generate(prompts, max_new_tokens=5, stop=["<user>"]) == [cut_at_stop(f, ["<user>"]) for f in full] == full


def test_mixed_precision_bf16_scores_under_autocast(sharp_lm):
    """mixed_precision="bf16" (as an argument, or as the process's scoring setting) gives the numbers
    of a brute-force pass under bf16 autocast, which differ from float32's; "auto" on a model this
    small is float32 (precision.py: bf16 only from 20M parameters on bf16-fast hardware)."""
    from forgetscope import precision

    model, tok = sharp_lm
    reqs = [("alice-baker was born in", " paris"), ("what is 4 plus", " 7 ?"), ("the pet of nora-xu is called", " kiwi . x")]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = [brute_loglik(model, tok, c, x)[0] for c, x in reqs]
    fp32 = [g.logprob for g in NativeScorer(model, tok).loglikelihood(reqs)]
    bf16 = [g.logprob for g in NativeScorer(model, tok, mixed_precision="bf16").loglikelihood(reqs)]
    saved = precision.scoring()
    precision.set_scoring("bf16")
    try:
        by_setting = [g.logprob for g in NativeScorer(model, tok).loglikelihood(reqs)]
    finally:
        precision.set_scoring(saved)
    auto = [g.logprob for g in NativeScorer(model, tok, mixed_precision="auto").loglikelihood(reqs)]
    assert max(abs(a - b) for a, b in zip(fp32, want, strict=True)) > 2e-3  # the test can tell the precisions apart
    assert bf16 == pytest.approx(want, abs=5e-4) and by_setting == pytest.approx(want, abs=5e-4)
    assert auto == fp32


class _ConfigWithoutLimit(torch.nn.Module):
    """A model behind a config that names no max_position_embeddings (the scorer then assumes 2048)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.config = type("Config", (), {})()

    def forward(self, input_ids, **kwargs):
        return self.inner(input_ids=input_ids, **kwargs)


def _windowed_nll(model, ids: list[int], window: int) -> float:
    """_brute_rolling_nll with one forward pass per window (a causal model: the same numbers)."""
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(ids) - 1, window):
            chunk = ids[start : start + window + 1]
            logp = torch.log_softmax(model(input_ids=torch.tensor([chunk[:-1]])).logits[0].double(), -1)
            total -= sum(float(logp[j, t]) for j, t in enumerate(chunk[1:]))
    return total


def test_default_context_window_is_the_models(sharp_lm):
    """Without max_length the window is the model config's max_position_embeddings (256 for the tiny
    model), else 2048: a text longer than the window is scored in windows of that many tokens."""
    model, tok = sharp_lm
    assert model.config.max_position_embeddings == 256
    text = " ".join(["alice-baker works for acme ."] * 60)  # 300 tokens
    ids = [tok.eos_token_id] + tok(text, add_special_tokens=False)["input_ids"]
    got = NativeScorer(model, tok).rolling_nll([text])[0]
    assert got == pytest.approx(_windowed_nll(model, ids, 256), abs=1e-3)
    assert abs(got - _windowed_nll(model, ids, 512)) > 1e-2  # the window matters
    long_text = " ".join(["alice-baker works for acme ."] * 420)  # 2100 tokens
    ids = [tok.eos_token_id] + tok(long_text, add_special_tokens=False)["input_ids"]
    got = NativeScorer(_ConfigWithoutLimit(model), tok).rolling_nll([long_text])[0]
    assert got == pytest.approx(_windowed_nll(model, ids, 2048), rel=1e-5)
    assert abs(got - _windowed_nll(model, ids, 2049)) > 1e-2


def test_default_batch_size_is_64(tiny_lm):
    model, tok = tiny_lm
    seen = []
    reqs = [(" ".join(["acme"] * k), " paris") for k in range(1, 66)]  # 65 contexts: 65 rows
    NativeScorer(model, tok, progress=seen.append).loglikelihood(reqs)
    assert seen == [64, 1]


def test_tokenizer_without_bos_or_eos_scores_contexts(tiny_lm):
    """A tokenizer with neither BOS nor EOS has no prefix token: requests with a context score as usual."""
    import copy

    model, world_tok = tiny_lm
    tok = copy.deepcopy(world_tok)
    tok.eos_token = None
    assert tok.bos_token_id is None and tok.eos_token_id is None
    reqs = [("alice-baker was born in", " paris"), ("what is 4 plus", " 7 ?")]
    got = NativeScorer(model, tok).loglikelihood(reqs)
    for (c, x), g in zip(reqs, got, strict=True):
        assert g.logprob == pytest.approx(brute_loglik(model, world_tok, c, x)[0], abs=1e-4)


def test_shared_context_is_used_exactly_when_it_saves_64_tokens_and_fits(tiny_lm):
    """The context's one pass is spent when it saves at least 64 context tokens ((members - 1) x
    context length) and context + the longest continuation fit in max_length; else one row each.
    The numbers are the same either way (test_shared_long_context_equals_one_row_per_request); this
    pins which path runs, by the forward passes the model sees."""
    model, tok = tiny_lm
    words = " ".join(["alice-baker works for acme ."] * 20).split()

    def passes(n_ctx: int, n_members: int, max_length: int | None = None) -> list[int]:
        ctx = " ".join(words[:n_ctx])
        assert len(tok(ctx, add_special_tokens=False)["input_ids"]) == n_ctx
        reqs = [(ctx, x) for x in (" paris is", " acme works", " kiwi .")[:n_members]]  # two tokens each
        seen = []
        hook = model.register_forward_hook(lambda m, a, k, o: seen.append(k["input_ids"].shape[0]), with_kwargs=True)
        try:
            NativeScorer(model, tok, max_length=max_length).loglikelihood(reqs)
        finally:
            hook.remove()
        return seen

    assert passes(64, 2) == [1, 2]  # saves 64: the context once, then the two continuations
    assert passes(63, 2) == [2]  # saves 63: two full rows
    assert passes(32, 3) == [1, 3] and passes(31, 3) == [3]
    assert passes(64, 2, max_length=66) == [1, 2]  # 64 + 2 continuation tokens fit exactly
    assert passes(64, 2, max_length=65) == [2]


def test_auto_precision_of_a_large_model_follows_the_hardware(tiny_lm):
    """"auto" on a model of 20M parameters or more is bf16 exactly where the hardware runs it fast
    (precision.device_runs_bf16_fast; float32 on a CPU without AMX): the same numbers as that mode."""
    from forgetscope import precision
    from forgetscope.models import TinyModelConfig, build_tiny_model

    _, tok = tiny_lm
    big = build_tiny_model(TinyModelConfig(layers=2, hidden=1024, heads=8), tok, seed=0).eval()
    assert sum(p.numel() for p in big.parameters()) >= precision.AUTO_MIN_PARAMETERS
    reqs = [("alice-baker was born in", " paris")]
    mode = "bf16" if precision.device_runs_bf16_fast("cpu") else "no"
    assert NativeScorer(big, tok, mixed_precision="auto").loglikelihood(reqs) == NativeScorer(big, tok, mixed_precision=mode).loglikelihood(reqs)


def _byte_level_tokenizer():
    """A byte-level BPE (GPT-2's kind, trained here on two sentences): a space is part of the token
    after it, so "in " and "in" encode differently."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["alice-baker was born in paris .", "the pet of nora-xu is called kiwi ."] * 3, vocab_size=300,
                            min_frequency=1, special_tokens=["<eos>"], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<eos>")


def test_split_requests_moves_trailing_spaces_to_the_continuation(tiny_lm):
    """As HFLM: ("born in ", "paris") is split as ("born in", " paris"), on a tokenizer where the
    space would otherwise end the context as a token of its own."""
    model, _ = tiny_lm
    tok = _byte_level_tokenizer()
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert enc("alice-baker was born in ") != enc("alice-baker was born in")  # the test can tell
    sc = NativeScorer(model, tok)
    got = sc.split_requests([("alice-baker was born in ", "paris"), ("alice-baker was born in", " paris"), ("kiwi  ", "is")])
    assert got[0] == got[1] == (enc("alice-baker was born in"), enc(" paris"))
    assert got[2] == (enc("kiwi"), enc("kiwi  is")[len(enc("kiwi")):])


def test_split_requests_of_an_empty_context(tiny_lm):
    """An empty context is the prefix token; the continuation is encoded without special tokens (a
    tokenizer that appends EOS to what it encodes does not append it here), and a continuation that
    starts with the prefix token's text gives that token to the context (as HFLM)."""
    import copy

    from tokenizers import processors

    model, world_tok = tiny_lm
    tok = copy.deepcopy(world_tok)
    eos = tok.eos_token_id
    tok._tokenizer.post_processor = processors.TemplateProcessing(single="$A <eos>", special_tokens=[("<eos>", eos)])
    plain = world_tok("paris is", add_special_tokens=False)["input_ids"]
    assert tok("paris is")["input_ids"] == [*plain, eos]  # the tokenizer appends EOS
    sc = NativeScorer(model, tok)
    assert sc.split_requests([("", "paris is")]) == [([eos], plain)]
    assert sc.split_requests([("", "<eos> paris is"), ("", "paris is")]) == [([eos], plain), ([eos], plain)]


class _NoWeakrefTokenizer:
    """A tokenizer wrapper that cannot be weakly referenced (no memo for it)."""

    __slots__ = ("inner",)

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, *args, **kwargs):
        return self.inner(*args, **kwargs)

    def __len__(self):
        return len(self.inner)


def test_split_requests_without_a_memo(tiny_lm):
    import weakref

    model, tok = tiny_lm
    wrapped = _NoWeakrefTokenizer(tok)
    with pytest.raises(TypeError):
        weakref.ref(wrapped)
    requests = [("alice-baker was born in ", "paris"), ("", "paris is"), ("nora-xu works for", " acme .")]
    assert NativeScorer(model, wrapped).split_requests(requests) == NativeScorer(model, tok)._split_requests(requests)


def test_only_the_scored_positions_reach_the_output_layer(tiny_lm):
    """The output layer (vocabulary-wide, the costly part of a small model's pass) runs on the
    positions that predict continuation tokens only: one for a one-token continuation, two for two."""
    model, tok = tiny_lm
    seen = []
    hook = model.lm_head.register_forward_hook(lambda module, args, output: seen.append(args[0].shape[1]))
    try:
        reqs = [("alice-baker was born in", " paris"), ("what is 4 plus", " 7 ?")]
        assert [len(tok(c + x, add_special_tokens=False)["input_ids"]) - len(tok(c, add_special_tokens=False)["input_ids"]) for c, x in reqs] == [1, 2]
        got = [NativeScorer(model, tok).loglikelihood([r])[0] for r in reqs]
    finally:
        hook.remove()
    assert seen == [1, 2]
    for (c, x), g in zip(reqs, got, strict=True):
        assert g.logprob == pytest.approx(brute_loglik(model, tok, c, x)[0], abs=1e-4)


def test_shared_context_passes_the_cache_under_the_forwards_own_keyword(sharp_lm):
    """transformers renamed forward's `past_key_values` to `cache` (the old name goes in 5.40): the
    shared path uses the name the forward declares, so no deprecated keyword is passed (one would
    be swallowed unread once removed, and the continuations scored without their context)."""
    import warnings

    model, tok = sharp_lm
    reqs = _long_context_requests(tok)
    sc = NativeScorer(model, tok, batch_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # transformers warns on the deprecated keyword
        got = sc.loglikelihood(reqs)
    assert sc.share_prefix and sc._cache_kwarg in inspect.signature(model.forward).parameters
    for (c, x), g in zip(reqs, got, strict=True):
        assert g.logprob == pytest.approx(brute_loglik(model, tok, c, x)[0], abs=1e-4)


def test_shared_context_is_off_for_a_forward_that_names_no_cache_keyword(sharp_lm):
    """A forward taking only **kwargs might drop a cache keyword unread: no shared pass is tried and
    every request is scored whole (the brute-force numbers)."""
    model, tok = sharp_lm

    class KwargsOnly(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.config, self.device = inner.config, inner.device

        def forward(self, **kwargs):
            kwargs.pop("cache", None), kwargs.pop("past_key_values", None)  # what an unaware wrapper does
            return self.inner(**kwargs)

    reqs = _long_context_requests(tok)
    sc = NativeScorer(KwargsOnly(model), tok, batch_size=8)
    got = sc.loglikelihood(reqs)
    assert sc._cache_kwarg is None and not sc.share_prefix
    for (c, x), g in zip(reqs, got, strict=True):
        assert g.logprob == pytest.approx(brute_loglik(model, tok, c, x)[0], abs=1e-4)


class _PlainOutputLM(torch.nn.Module):
    """A causal LM outside transformers' output classes (remote code, an older model class): the
    tiny Llama behind a forward that names the cache `past_key_values` (old) or `cache` (new), and
    returns a plain object with the logits and the cache under `field` (None: no cache at all)."""

    def __init__(self, inner, field: str | None):
        super().__init__()
        self.inner, self.field, self.config = inner, field, inner.config

    def _out(self, out):
        return SimpleNamespace(logits=out.logits, **({self.field: out.cache} if self.field else {}))


class _OldKeywordLM(_PlainOutputLM):
    def forward(self, input_ids, past_key_values=None, use_cache=None):
        return self._out(self.inner(input_ids=input_ids, cache=past_key_values, use_cache=use_cache))


class _NewKeywordLM(_PlainOutputLM):
    def forward(self, input_ids, cache=None, use_cache=None):
        return self._out(self.inner(input_ids=input_ids, cache=cache, use_cache=use_cache))


class _BothKeywordsLM(_PlainOutputLM):
    """Names the old keyword too (for callers' sake) but reads only the new one."""

    def forward(self, input_ids, cache=None, past_key_values=None, use_cache=None):
        return self._out(self.inner(input_ids=input_ids, cache=cache, use_cache=use_cache))


@pytest.mark.parametrize(("wrapper", "field"), [(_NewKeywordLM, "cache"), (_OldKeywordLM, "past_key_values"),
                                                (_BothKeywordsLM, "cache"), (_NewKeywordLM, None), (_OldKeywordLM, None)])
def test_shared_context_takes_the_cache_from_the_outputs_field(sharp_lm, wrapper, field):
    """The shared pass finds the cache under the output's `cache` (transformers' name now; its
    outputs' `past_key_values` is a deprecated alias) or, for an older output, `past_key_values`, and hands it
    back under the keyword the forward names (`cache` where it names both: the old one may be kept
    for callers and left unread): the context once, then the continuations alone, with the
    brute-force numbers. An output with neither: no sharing, one full row each, the same numbers."""
    model, tok = sharp_lm
    reqs = _long_context_requests(tok)
    n_ctx = len(tok(reqs[0][0], add_special_tokens=False)["input_ids"])
    conts = [len(tok(c + x, add_special_tokens=False)["input_ids"]) - n_ctx for c, x in reqs]
    sc, got, passes = _scored_with_passes(wrapper(model, field), tok, reqs)
    if field is None:
        assert not sc.share_prefix and passes == [(1, n_ctx), (3, n_ctx + max(conts) - 1)]  # the context, then whole rows
    else:
        assert sc.share_prefix and passes == [(1, n_ctx), (3, max(conts) - 1)]  # the context, then the continuations
    for (c, x), g, n in zip(reqs, got, conts, strict=True):
        want, greedy = brute_loglik(model, tok, c, x)
        assert g.logprob == pytest.approx(want, abs=1e-4) and g.is_greedy == greedy and g.n_tokens == n


@pytest.fixture
def random_lora(sharp_lm):
    """(the sharp tiny Llama under a LoRA adapter initialised at random, the Llama, its tokenizer)."""
    import copy

    from peft import LoraConfig, get_peft_model

    model, tok = sharp_lm
    with torch.random.fork_rng():
        torch.manual_seed(0)
        lora = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)).eval()
    return lora, model, tok


def test_shared_context_through_a_peft_model(random_lora):
    """A PEFT model's forward names no cache keyword but passes its keywords on to the base model's,
    which does: the shared pass is used, and gives the adapted model's brute-force numbers (the
    adapter is initialised at random, so they differ from the base model's)."""
    lora, model, tok = random_lora
    assert not {"cache", "past_key_values"} & set(inspect.signature(lora.forward).parameters)
    reqs = _long_context_requests(tok)
    n_ctx = len(tok(reqs[0][0], add_special_tokens=False)["input_ids"])
    sc, got, passes = _scored_with_passes(lora, tok, reqs)
    assert sc.share_prefix and passes[0] == (1, n_ctx) and len(passes) == 2 and passes[1][1] < n_ctx
    wants = []
    for (c, x), g in zip(reqs, got, strict=True):
        want, greedy = brute_loglik(lora, tok, c, x)
        assert g.logprob == pytest.approx(want, abs=1e-4) and g.is_greedy == greedy
        wants.append(want)
    base = [brute_loglik(model, tok, c, x)[0] for c, x in reqs]
    assert max(abs(w - b) for w, b in zip(wants, base, strict=True)) > 1e-2  # the adapter changed the numbers: the test can tell


def test_a_peft_models_output_layer_runs_on_the_positions_read_only(random_lora):
    """PEFT's forward names no `logits_to_keep` but hands it on to the base model: the shared pass's
    context runs the output layer on its last position only, and the scores stay brute force's."""
    lora, _, tok = random_lora
    assert "logits_to_keep" not in inspect.signature(lora.forward).parameters
    reqs = _long_context_requests(tok)
    n_ctx = len(tok(reqs[0][0], add_special_tokens=False)["input_ids"])
    head_in = []
    hook = lora.get_base_model().lm_head.register_forward_hook(lambda m, a, o: head_in.append(tuple(a[0].shape[:2])))
    try:
        got = NativeScorer(lora, tok, batch_size=8).loglikelihood(reqs)
    finally:
        hook.remove()
    assert n_ctx > 1 and head_in[0] == (1, 1)  # the context's pass: one position through the output layer
    for (c, x), g in zip(reqs, got, strict=True):
        assert g.logprob == pytest.approx(brute_loglik(lora, tok, c, x)[0], abs=1e-4)
