"""The conjugate study's item rows: what the probe runner returns, tagged and judged for this study."""

from __future__ import annotations

from forgetscope.evaluation.kinds import KINDS
from forgetscope.suites.refusal import JUDGES


def tidy_rows(results: list[dict], items, group: dict, **tags) -> list[dict]:
    """Probe-runner rows -> the study's rows. `score` is the capability score: accuracy, or for a
    refusal suite the answer rate (1 - refused, judged by the suite's rule)."""
    out = []
    for r, it in zip(results, items, strict=True):
        row = {**tags, "suite": group["suite"], "transform": group["transform"], "task": it.meta["task"], "key": it.meta["key"],
               "item_id": it.id, "kind": it.kind, "output": r["output"],
               "answer": None if it.answer is None else str(it.choices[int(it.answer)] if KINDS[it.kind].answer == "index"
                                                             else it.answer)}
        if not KINDS[it.kind].knowledge:  # a refusal rate, judged by the suite's rule
            judge = JUDGES[group.get("rule") or "keywords"]
            refused = float(judge(r["output"], group["refusal_markers"]))
            row.update(refused=refused, score=1.0 - refused, leaked=r.get("leaked"))
        else:
            row.update(score=r["score"], followed_instruction=r.get("followed_instruction"))
        out.append(row)
    return out
