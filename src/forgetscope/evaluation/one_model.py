"""Score one model (`forgetscope eval`): probe items through the native scorer, lm-eval tasks through
lm-eval, the same code the studies' evaluation stages run, so its numbers are theirs.

Returns tidy rows (items.parquet's columns for probe items, lm_eval.parquet's for task documents),
lm-eval's own aggregates, and a per-probe table with item-bootstrap intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forgetscope.analysis.stats import bootstrap_distribution
from forgetscope.evaluation.items import ProbeItem
from forgetscope.evaluation.probe_runner import ProbeSettings, run_probes
from forgetscope.evaluation.scorer import NativeScorer


@dataclass
class OneModelResult:
    items: pd.DataFrame  # one row per probe item (items.parquet's columns)
    documents: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per lm-eval document and metric
    aggregates: pd.DataFrame = field(default_factory=pd.DataFrame)  # lm-eval's own metrics and stderr


def score_model(model, tokenizer, items: Sequence[ProbeItem], settings: ProbeSettings, *, tasks: Sequence = (),
                include_path: Sequence[str] = (), batch_size: int = 64) -> OneModelResult:
    scorer = NativeScorer(model, tokenizer, batch_size=batch_size)
    rows = pd.DataFrame(run_probes(scorer, list(items), settings)) if items else pd.DataFrame()
    if not tasks:
        return OneModelResult(rows)
    from forgetscope.evaluation.lm_eval_backend import aggregate_rows, evaluate_with_lm_eval

    docs, raw = evaluate_with_lm_eval(model, tokenizer, (), batch_size=batch_size, extra_tasks=tasks,
                                      include_path=include_path, settings=settings)
    return OneModelResult(rows, pd.DataFrame(docs), pd.DataFrame(aggregate_rows(raw)))


def probe_table(rows: pd.DataFrame, *, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per probe (and metric, for lm-eval documents): items, mean score and its item-bootstrap
    interval at `level`."""
    out = []
    keys = ["probe", "metric"] if "metric" in rows.columns else ["probe"]
    for key, g in rows.groupby(keys, sort=True):
        scores = g["score"].to_numpy(dtype=float)[:, None]
        reps = bootstrap_distribution(scores, n_boot=n_boot, seed=seed)[:, 0]
        lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
        name = key if isinstance(key, tuple) else (key,)
        out.append({**dict(zip(keys, name, strict=True)), "n": len(g), "score": float(scores.mean()), "lo": float(lo), "hi": float(hi)})
    return pd.DataFrame(out)
