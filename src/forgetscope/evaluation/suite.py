"""Evaluate one model: every probe item, and bits/byte on held-out text per language."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from forgetscope.evaluation.items import ProbeItem
from forgetscope.evaluation.probe_runner import ProbeSettings, run_probes
from forgetscope.evaluation.scorer import NativeScorer


def evaluate_model(scorer: NativeScorer, items: Sequence[ProbeItem], heldout: Sequence[dict], settings: ProbeSettings) -> tuple[list[dict], list[dict]]:
    """(item rows, bits/byte rows). Held-out rows are {"text", "language"?}; bits/byte is computed per
    language as total bits over total UTF-8 bytes (not a mean of per-text ratios)."""
    item_rows = run_probes(scorer, items, settings)
    by_lang: dict[str, list[str]] = defaultdict(list)
    for row in heldout:
        by_lang[str(row.get("language", "all"))].append(row["text"])
    bpb_rows = []
    for lang, texts in sorted(by_lang.items()):
        bits, n_bytes = scorer.bits_and_bytes(texts)
        bpb_rows.append({"language": lang, "bits": bits, "bytes": n_bytes, "bits_per_byte": bits / n_bytes, "texts": len(texts)})
    return item_rows, bpb_rows
