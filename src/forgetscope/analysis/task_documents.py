"""lm-eval tasks' documents as items: per task, the rows of the one per-document metric a study scores
it by (the config's `metric` for it, else the first one lm-eval reports). Shared by the trajectory
study (tasks as probes, lm_eval.parquet) and the unlearning study (general_tasks: utility)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import pandas as pd


def task_documents(docs: pd.DataFrame, tasks: Sequence, exclude: Collection[str] = (), *,
                   fractions_only: bool = True) -> tuple[pd.DataFrame, dict[str, str]]:
    """`docs`: lm-eval's per-document rows (lm_eval_backend.task_rows: probe = the task, metric,
    score, one row per document and metric). `tasks`: the configured tasks (LmEvalTask: name, metric).
    `exclude`: probe names whose rows are not task documents. A task group's subtasks are named by
    lm-eval, so a group's `metric` reaches no subtask (each takes its first). With `fractions_only` a
    task whose chosen metric has a document outside [0, 1] is left out. Returns (the chosen rows,
    every column kept, {task: metric})."""
    if docs.empty:
        return pd.DataFrame(), {}
    docs = docs[~docs["probe"].isin(set(exclude))]
    chosen = {t.name: t.metric for t in tasks if t.metric}
    frames, metrics = [], {}
    for task, g in docs.groupby("probe", sort=True):
        metric = chosen.get(task) or str(g["metric"].iloc[0])
        rows = g[g["metric"] == metric]
        if rows.empty or (fractions_only and not rows["score"].between(0, 1).all()):
            continue
        metrics[str(task)] = metric
        frames.append(rows)
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), metrics
