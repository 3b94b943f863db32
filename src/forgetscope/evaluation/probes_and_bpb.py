"""Evaluate one model: every probe item, and bits/byte on held-out text per language."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence

from forgetscope.evaluation.items import ProbeItem
from forgetscope.evaluation.probe_runner import ProbeSettings, run_probes
from forgetscope.evaluation.scorer import NativeScorer


def evaluate_model(scorer: NativeScorer, items: Sequence[ProbeItem], heldout: Sequence[dict], settings: ProbeSettings) -> tuple[list[dict], list[dict]]:
    """(item rows, bits/byte rows). Held-out rows are {"text", "language"?, "untrained"?}; bits/byte is
    computed per language as total bits over total UTF-8 bytes (not a mean of per-text ratios). A row's
    `untrained` words (words of the text that no training text contains, such as the fact world's
    held-out names) are not scored: see `heldout_bits`."""
    item_rows = run_probes(scorer, items, settings)
    by_lang: dict[str, list[dict]] = defaultdict(list)
    for row in heldout:
        by_lang[str(row.get("language", "all"))].append(row)
    bpb_rows = []
    for lang, rows in sorted(by_lang.items()):
        texts = [r["text"] for r in rows]
        if any(r.get("untrained") for r in rows):
            bits, n_bytes, skipped = heldout_bits(scorer, texts, [r.get("untrained") or [] for r in rows])
        else:
            (bits, n_bytes), skipped = scorer.bits_and_bytes(texts), 0
        bpb_rows.append({"language": lang, "bits": bits, "bytes": n_bytes, "bits_per_byte": bits / n_bytes, "texts": len(texts),
                         "skipped_tokens": skipped})
    return item_rows, bpb_rows


def heldout_bits(scorer: NativeScorer, texts: Sequence[str], untrained: Sequence[Sequence[str]]) -> tuple[float, int, int]:
    """(bits, bytes, tokens skipped) over the tokens of `texts` that are not part of an untrained word.

    Every token is predicted from all that precedes it (untrained words stay in the context); a token
    is skipped when its first non-space character lies inside a whitespace-delimited word listed in
    the text's `untrained`. The bytes are counted the same way: the text's UTF-8 bytes are shared out
    among its tokens, each token owning the bytes from the end of the previous token (or the text's
    start) to its own end, the last token also what follows it; a skipped token's bytes leave the
    total. With nothing skipped this is exactly total bits over total bytes."""
    nll = scorer.rolling_token_nll(texts)
    enc = scorer.tok(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    scored_ids = scorer.encode_many(texts, plain=True)  # the tokens rolling_token_nll scored, in one call
    bits, n_bytes, skipped = 0.0, 0, 0
    for t, text in enumerate(texts):
        if enc["input_ids"][t] != scored_ids[t]:
            raise ValueError(f"held-out text {t}: the tokenizer's offsets do not match the scored tokens")
        words = set(untrained[t])
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text) if m.group() in words]
        offsets = enc["offset_mapping"][t]
        prev = 0
        for i, (start, end) in enumerate(offsets):
            owned = text[prev : len(text) if i == len(offsets) - 1 else end]
            prev = max(prev, end)
            first = start + len(text[start:end]) - len(text[start:end].lstrip())
            if any(a <= first < b for a, b in spans):
                skipped += 1
                continue
            bits += nll[t][i] / math.log(2)
            n_bytes += len(owned.encode("utf-8"))
    return bits, n_bytes, skipped
