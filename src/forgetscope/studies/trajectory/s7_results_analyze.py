"""Stage 7 (whole run): gather every seed's tables, decompose forgetting, write summary.json.

Tables written to RUN_DIR/results/ (docs/outputs.md has the columns):
    items.parquet          one row per seed x condition x step x probe item
    bpb.parquet            bits/byte per seed x condition x step x language
    pattern_shift.parquet  KL and rank shares per seed x step
    train_log.parquet      losses of pre-training and fine-tuning
    decomposition_by_seed.parquet, decomposition.parquet, per_item.parquet
A table with no rows (train_log when nothing was trained, say) is not written: readers take a
missing table as an empty one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forgetscope import __version__, tracking
from forgetscope.analysis import stage_rule
from forgetscope.analysis.decomposition import aggregate_seeds, decompose_seed
from forgetscope.analysis.findings import trajectory_findings
from forgetscope.analysis.stats import num, require_finite, seed_interval
from forgetscope.analysis.task_documents import task_documents
from forgetscope.evaluation.kinds import KNOWLEDGE_KINDS, RATE_KINDS
from forgetscope.restoration import build_restorers
from forgetscope.schema import TrajectorySummary
from forgetscope.store import RunStore, atomic_write_bytes, atomic_write_json
from forgetscope.studies.trajectory.config import TrajectoryConfig
from forgetscope.views import BASE_STAGE, EVALUATE_STAGE, FINETUNE_STAGE, PATTERN_STAGE, RESTORE_STAGE


def _concat(files: list[Path]) -> pd.DataFrame:
    frames = [pd.read_parquet(f) for f in sorted(files)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def gather(store: RunStore, seeds: list[int]) -> dict[str, pd.DataFrame]:
    items, bpb, pattern, logs, lm_eval, lm_agg, curves = [], [], [], [], [], [], []
    for s in seeds:
        ev, rs = store.stage(EVALUATE_STAGE, s).path, store.stage(RESTORE_STAGE, s).path
        items += [*ev.glob("*.items.parquet"), *rs.glob("*.items.parquet")]
        bpb += [*ev.glob("*.bpb.parquet"), *rs.glob("*.bpb.parquet")]
        lm_eval += [*ev.glob("*.lm_eval.parquet"), *rs.glob("*.lm_eval.parquet")]  # eval.backend lm_eval, eval.lm_eval_tasks
        lm_agg += [*ev.glob("*.lm_eval_agg.parquet"), *rs.glob("*.lm_eval_agg.parquet")]
        curves += list(rs.glob("*.curve.parquet"))
        pattern += list(store.stage(PATTERN_STAGE, s).path.glob("pattern.parquet"))
        for stage, name in ((BASE_STAGE, "pretrain"), (FINETUNE_STAGE, "finetune")):
            f = store.stage(stage, s).path / "train_log.parquet"
            if f.exists():
                logs.append(pd.read_parquet(f).assign(seed=s, phase=name))
    tables = {
        "items": _concat(items),
        "bpb": _concat(bpb),
        "pattern_shift": _concat(pattern),
        "train_log": pd.concat(logs, ignore_index=True) if logs else pd.DataFrame(),
    }
    if lm_eval:
        tables["lm_eval"] = _concat(lm_eval)
    if curves:
        tables["restoration_curve"] = _concat(curves)
    if lm_agg:
        tables["lm_eval_aggregates"] = _concat(lm_agg)
    return tables


def task_items(lm_eval: pd.DataFrame, tasks: list, probes: set[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """lm-eval tasks as probes: one items.parquet-shaped row per document, scored by the task's
    metric (`eval.lm_eval_tasks[].metric`, else the first one lm-eval reports for it). Only metrics
    whose per-document values lie in [0, 1] enter the decomposition (its rule is in score points).
    `probes`: the probe files' own probes, whose rows in lm_eval.parquet (`eval.backend: lm_eval`)
    are the items already in items.parquet, not task documents (both ids read "<name>/..."; a task
    group's subtasks are named by lm-eval, so the tasks are what is not a probe). Returns (rows,
    {task: metric})."""
    rows, metrics = task_documents(lm_eval, tasks, probes)
    if rows.empty:
        return rows, metrics
    return rows[["seed", "condition", "step", "item_id", "probe", "kind", "score", "output"]], metrics


def analyze(cfg: TrajectoryConfig, store: RunStore) -> TrajectorySummary:
    a = cfg.analysis
    tables = gather(store, cfg.seeds)
    items = tables["items"]
    require_finite(items, ["score"], f"{store.root}: the probe scores (seed-*/4_evaluate, 6_restore)")
    docs, task_metrics = task_items(tables.get("lm_eval", pd.DataFrame()), cfg.eval.lm_eval_tasks, set(items["probe"]))
    items = pd.concat([tables["items"], docs], ignore_index=True) if not docs.empty else tables["items"]
    restorers = [r.condition for r in build_restorers(cfg.restore.restorers)]
    by_seed, agg, per_item = [], [], []
    # lm-eval tasks' documents carry lm-eval's output_type as their kind: they are knowledge probes too
    knowledge_probes = sorted({*items.loc[items["kind"].isin(KNOWLEDGE_KINDS), "probe"], *task_metrics})
    for probe in knowledge_probes:
        for restorer in restorers:
            for seed in cfg.seeds:
                sub = items[(items["probe"] == probe) & (items["seed"] == seed) & items["condition"].isin(["checkpoint", restorer])]
                if not ((sub["condition"] == restorer) & (sub["step"] == 0)).any():
                    # a restorer that does not restore the base leaves it as it is (Restorer.restores_base)
                    base = sub[(sub["condition"] == "checkpoint") & (sub["step"] == 0)].assign(condition=restorer)
                    sub = pd.concat([sub, base], ignore_index=True)
                t = decompose_seed(sub, delta=a.delta, n_boot=a.n_bootstrap, level=a.ci_level, seed=seed,
                                   restored_condition=restorer)
                by_seed.append(t.per_step.assign(seed=seed, probe=probe, restorer=restorer))
                per_item.append(t.per_item.assign(seed=seed, probe=probe, restorer=restorer))
            seeds_df = pd.concat([d for d in by_seed if d["probe"].iat[0] == probe and d["restorer"].iat[0] == restorer])
            agg.append(aggregate_seeds(seeds_df, delta=a.delta, level=a.ci_level).assign(probe=probe, restorer=restorer))
    tables["decomposition_by_seed"] = pd.concat(by_seed, ignore_index=True)
    tables["decomposition"] = pd.concat(agg, ignore_index=True)
    tables["per_item"] = pd.concat(per_item, ignore_index=True)
    write_tables(store.results_dir, tables)
    summary = build_summary(cfg, tables, knowledge_probes, task_metrics)
    atomic_write_json(store.summary_path, summary.model_dump(mode="json"))
    if cfg.runtime.report_to:  # optional trackers: losses and probe scores against step
        tracking.report(cfg.runtime.report_to, store.root, cfg.name, cfg.model_dump(mode="json"), list(tracking.run_points(tables, summary)))
    return summary


def write_tables(folder: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Each table as folder/<name>.parquet, atomically. A table without rows is not written, and one an
    earlier analysis left is removed: no empty files (train_log when nothing was trained)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        path = folder / f"{name}.parquet"
        if df.empty:
            path.unlink(missing_ok=True)
        else:
            atomic_write_bytes(path, _parquet_safe(df).to_parquet(index=False))


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Columns of lists stay lists; mixed object columns become strings."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object and not out[c].map(lambda v: isinstance(v, list)).any():
            out[c] = out[c].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return out


def _ci(row, key: str) -> list[float | None]:
    return [num(row[f"{key}_lo"]), num(row[f"{key}_hi"])]


def probe_summary(agg: pd.DataFrame, probe: str, delta: float, restorer: str, larger_budgets: list[str], metric: str | None = None) -> dict:
    """The decomposition of one probe (or lm-eval task `metric`) under one restorer, labelled by the
    stage rule (analysis/stage_rule.py), `larger_budgets` being the same restorer with more steps."""
    d = agg[(agg["probe"] == probe) & (agg["restorer"] == restorer)].sort_values("step")
    base_row = d[d["step"] == 0].iloc[0]
    checkpoints = []
    for _, r in d[d["step"] > 0].iterrows():
        longer = [agg[(agg["probe"] == probe) & (agg["restorer"] == c) & (agg["step"] == r["step"])] for c in larger_budgets]
        label_ci, saturated = stage_rule.saturate(
            stage_rule.row_interval_label(r, delta), [stage_rule.row_interval_label(x.iloc[0], delta) if len(x) else None for x in longer])
        checkpoints.append({
            "step": int(r["step"]),
            "score": num(r["score"]), "restored": num(r["restored"]),
            "forgetting": num(r["forgetting"]), "recovered": num(r["recovered"]), "unrecovered": num(r["unrecovered"]),
            "gap_to_restored_base": num(r["gap"]),
            "label": r["label"], "label_by_seed": list(r["label_by_seed"]), "label_ci": label_ci, "saturated": saturated,
            "ci": {k: _ci(r, k) for k in ("score", "restored", "forgetting", "recovered", "unrecovered", "gap")},
            "other_restorers": {},
        })
    first_actual = [c["step"] for c in checkpoints if c["label_ci"] == "actual"]
    return {
        "probe": probe,
        "source": "lm_eval" if metric else "probes",
        "metric": metric,
        "restorer": restorer,
        "base": num(base_row["base"]), "restored_base": num(base_row["restored_base"]),
        "ci": {"base": _ci(base_row, "base"), "restored_base": _ci(base_row, "restored_base")},
        "transition_step": first_actual[0] if first_actual else None,
        "checkpoints": checkpoints,
    }


def damaged_controls(agg: pd.DataFrame, probes: list[str], restorers: list[str], delta: float) -> dict:
    """{(probe, restorer): DamagedControl} for every control that restoration lowered by more than δ."""
    out = {}
    for probe in probes:
        for restorer in restorers:
            row = agg[(agg["probe"] == probe) & (agg["restorer"] == restorer) & (agg["step"] == 0)]
            if len(row):
                hit = stage_rule.damaged_control(probe, restorer, row["base"].iat[0], row["restored_base"].iat[0], delta)
                if hit is not None:
                    out[probe, restorer] = hit
    return out


def restoration_curve(tables: dict[str, pd.DataFrame], probe: str, restorers, level: float) -> list[dict]:
    """The primary probe's restored score against the restoration budget (in multiples of
    restore.train.steps; 0 = the checkpoint as fine-tuned), per checkpoint, for the restorers of the
    first one's kind: their curve points and their end points. Mean over seeds with a t-interval."""
    items = tables["items"]
    kin = [r for r in restorers if r.name == restorers[0].name]
    frames = [items[(items["probe"] == probe) & (items["condition"] == "checkpoint")].assign(budget=0.0)]
    for r in kin:
        frames.append(items[(items["probe"] == probe) & (items["condition"] == r.condition)].assign(budget=r.budget))
    curve = tables.get("restoration_curve")
    if curve is not None and not curve.empty:
        for r in kin:
            part = curve[(curve["probe"] == probe) & (curve["condition"] == r.condition)]
            frames.append(part.assign(budget=part["fraction"] * r.budget))
    df = pd.concat(frames, ignore_index=True)
    rows = []
    for (step, budget), g in df.groupby(["step", "budget"]):
        per_seed = g.groupby("seed")["score"].mean().to_numpy()
        m, lo, hi = seed_interval(per_seed, level)
        rows.append({"step": int(step), "budget": float(budget), "score": num(m), "ci": [num(lo), num(hi)]})
    return rows


def rate_summary(items: pd.DataFrame, probe: str, level: float) -> dict:
    """Per condition and step: the mean score (e.g. refusal rate) with a t-interval over seeds."""
    out: dict[str, list] = {}
    sub = items[items["probe"] == probe]
    for cond, g in sub.groupby("condition"):
        rows = []
        for step, h in g.groupby("step"):
            per_seed = h.groupby("seed")["score"].mean().to_numpy()
            m, lo, hi = seed_interval(per_seed, level)
            rows.append({"step": int(step), "rate": num(m), "ci": [num(lo), num(hi)]})
        out[str(cond)] = rows
    return out


def lm_eval_summary(agg: pd.DataFrame | None, seeds: list[int]) -> list[dict]:
    """lm-eval's own aggregate metrics per task, metric, condition and step: the mean over seeds, and
    lm-eval's stderr of each seed as it reports it."""
    if agg is None or agg.empty:
        return []
    out = []
    for (task, metric, cond, step), g in agg.groupby(["probe", "metric", "condition", "step"], sort=True):
        by_seed = g.set_index("seed")
        out.append({"task": task, "metric": metric, "condition": cond, "step": int(step), "value": num(g["value"].mean()),
                    "value_by_seed": [num(by_seed["value"].get(s)) for s in seeds],
                    "stderr_by_seed": [num(by_seed["stderr"].get(s)) for s in seeds],
                    "n": None if pd.isna(g["n"].iloc[0]) else int(g["n"].iloc[0])})
    return out


def build_summary(cfg: TrajectoryConfig, tables: dict[str, pd.DataFrame], knowledge_probes: list[str],
                  task_metrics: dict[str, str] | None = None) -> TrajectorySummary:
    agg = tables["decomposition"]
    a = cfg.analysis
    restorers = build_restorers(cfg.restore.restorers)
    lead = restorers[0].condition
    larger = [r.condition for r in restorers[1:] if r.name == restorers[0].name and r.budget > restorers[0].budget]
    primary = a.primary_probe if a.primary_probe in knowledge_probes else knowledge_probes[0]
    head = probe_summary(agg, primary, a.delta, lead, larger, (task_metrics or {}).get(primary))
    for ck in head["checkpoints"]:
        for r in restorers[1:]:
            row = agg[(agg["probe"] == primary) & (agg["restorer"] == r.condition) & (agg["step"] == ck["step"])].iloc[0]
            ck["other_restorers"][r.condition] = {"score": num(row["restored"]), "ci": _ci(row, "restored")}
    pattern = tables["pattern_shift"]
    pattern_rows = []
    if not pattern.empty:
        for (fmt, step), g in pattern.groupby(["format", "step"]):
            row = {"format": fmt, "step": int(step)}
            for k in ("kl", "unshifted", "marginal", "shifted"):
                m, lo, hi = seed_interval(g[k].to_numpy(), a.ci_level)
                row[k], row[f"{k}_ci"] = num(m), [num(lo), num(hi)]
            pattern_rows.append(row)
    bpb = tables["bpb"]
    bpb_rows = []
    for (cond, step, lang), g in (bpb.groupby(["condition", "step", "language"]) if not bpb.empty else []):
        m, lo, hi = seed_interval(g["bits_per_byte"].to_numpy(), a.ci_level)
        bpb_rows.append({"condition": cond, "step": int(step), "language": lang, "bits_per_byte": num(m), "ci": [num(lo), num(hi)]})
    refusal_probes = sorted(tables["items"].loc[tables["items"]["kind"].isin(RATE_KINDS), "probe"].unique())
    damaged = damaged_controls(agg, knowledge_probes, [r.condition for r in restorers], a.delta)
    return TrajectorySummary.model_validate({
        "name": cfg.name,
        "probe": primary,
        "delta": a.delta,
        "ci_level": a.ci_level,
        "seeds": cfg.seeds,
        "restorers": [{"condition": r.condition, "name": r.name, "options": r.options.model_dump(), "budget": r.budget, "title": r.title,
                       "describe": r.describe()}
                      for r in restorers],
        "base": head["base"],
        "restored_base": head["restored_base"],
        "transition_step": head["transition_step"],
        "ci": head["ci"],
        "findings": trajectory_findings(head["checkpoints"], a.delta, damaged.get((primary, lead))),
        "damaged_controls": list(damaged.values()),
        "checkpoints": head["checkpoints"],
        "restoration_curve": restoration_curve(tables, primary, restorers, a.ci_level),
        "probes": {p: probe_summary(agg, p, a.delta, lead, larger, (task_metrics or {}).get(p)) for p in knowledge_probes},
        "lm_eval": lm_eval_summary(tables.get("lm_eval_aggregates"), cfg.seeds),
        "rates": {p: rate_summary(tables["items"], p, a.ci_level) for p in refusal_probes},
        "pattern_shift": pattern_rows,
        "bits_per_byte": bpb_rows,
        "forgetscope_version": __version__,
    })


