"""Score probe items on a model in memory: one tidy row per item, with accuracy and the true answer's
log-likelihood (unlearning often lowers the likelihood before the argmax)."""

from __future__ import annotations

from collections.abc import Sequence

from forgetscope.evaluation.items import ProbeItem
from forgetscope.evaluation.probe_runner import ProbeSettings, run_probes

COLUMNS = ["item_id", "probe", "score", "answer_logprob", "meta_person", "meta_attribute"]


def probe_rows(model, tokenizer, items: Sequence[ProbeItem], batch_size: int) -> list[dict]:
    from forgetscope.evaluation.scorer import NativeScorer

    was_training = model.training
    rows = run_probes(NativeScorer(model, tokenizer, batch_size=batch_size), items, ProbeSettings())
    if was_training:
        model.train()
    return [{c: r.get(c) for c in COLUMNS} for r in rows]  # meta_*: the fact world's (None on a probe file's items)
