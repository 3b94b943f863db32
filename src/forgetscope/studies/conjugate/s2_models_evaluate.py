"""Stage 2: the base (if given) and the fine-tuned model on every item; one unit per model.

    2_evaluate/<model>.items.parquet   one row per item: model, suite, transform, task, key, score, output
"""

from __future__ import annotations

import gc
import json

import pandas as pd

from forgetscope.evaluation.items import load_items
from forgetscope.evaluation.probe_runner import ProbeSettings, run_probes
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.execution import Reporter
from forgetscope.store import RunStore, atomic_write_bytes
from forgetscope.studies.conjugate.config import ConjugateConfig
from forgetscope.studies.conjugate.rows import tidy_rows
from forgetscope.studies.stages import run_stage, stage_done


def evaluate_models(cfg: ConjugateConfig, store: RunStore, reporter: Reporter, device) -> None:
    stage = store.stage("2_evaluate")
    if stage_done(stage):  # done and intact: its inputs need not be read
        return
    src = store.stage("1_items").path
    items = {it.id: it for it in load_items(src / "items.jsonl")}
    groups = json.loads((src / "groups.json").read_text())
    models = cfg.models

    def evaluate(unit: str) -> None:
        spec = models[unit]
        tok = spec.load_tokenizer()
        model = spec.load_model(device)
        scorer = NativeScorer(model, tok, batch_size=cfg.eval.batch_size)
        rows = []
        for g in groups:
            settings = ProbeSettings(max_new_tokens=g["max_new_tokens"], stop=g["stop"], refusal_markers=g["refusal_markers"])
            group_items = [items[i] for i in g["ids"]]
            rows += tidy_rows(run_probes(scorer, group_items, settings), group_items, g, model=unit)
            reporter.advance()
        atomic_write_bytes(stage.path / f"{unit}.items.parquet", pd.DataFrame(rows).to_parquet(index=False))
        del model, scorer
        gc.collect()

    reporter.start("evaluate models", len(models) * len(groups))
    run_stage(stage, evaluate, list(models), record={"models": list(models)})
