"""Stage 6 (over all seeds): the item tables of every seed, the verdict per audited model and attack
(verdict.py), utility (the general probe and general_tasks), relearning curves and findings ->
results/*.parquet and summary.json."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forgetscope import __version__
from forgetscope.analysis.findings import finding
from forgetscope.analysis.stats import num, require_finite
from forgetscope.analysis.task_documents import task_documents
from forgetscope.store import RunStore, atomic_write_bytes, atomic_write_text
from forgetscope.studies.unlearning.config import UnlearningConfig
from forgetscope.studies.unlearning.context import CONTROL, EVALUATE_STAGE, RELEARN_STAGE, TASKS_SUFFIX
from forgetscope.studies.unlearning.summary import (
    AttackResult,
    CurvePoint,
    MeanCI,
    ModelAudit,
    ProbeScores,
    TaskScore,
    UnlearningSummary,
)
from forgetscope.studies.unlearning.probe_sets import fact_key
from forgetscope.studies.unlearning.verdict import NO_CONTROL, attack_label, difference_interval, model_verdict, recovered_share

SOURCES = "Deeb & Roger 2024; Łucki et al. 2024; Hu et al. 2024"


def read_tables(cfg: UnlearningConfig, store: RunStore) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(probe items before relearning, after relearning, general_tasks' documents: empty without them)."""
    ev, rl, tk = [], [], []
    for seed in cfg.seeds:
        for stage, out in ((EVALUATE_STAGE, ev), (RELEARN_STAGE, rl)):
            for f in sorted(store.stage(stage, seed).path.glob("*.parquet")):
                t = pd.read_parquet(f)
                t.insert(0, "seed", seed)
                (tk if stage == EVALUATE_STAGE and f.name.endswith(TASKS_SUFFIX) else out).append(t)
    items, relearn = pd.concat(ev, ignore_index=True), pd.concat(rl, ignore_index=True)
    for t, what in ((items, "evaluate"), (relearn, "relearn")):
        require_finite(t, ["score", "answer_logprob"], f"unlearning {what} tables")
    tasks = pd.concat(tk, ignore_index=True) if tk else pd.DataFrame()
    if not tasks.empty:
        require_finite(tasks, ["score"], "unlearning general_tasks tables")
    return items, relearn, tasks


class Interval:
    """Means and intervals of item scores over seeds (items with one seed), as one config sets them."""

    def __init__(self, cfg: UnlearningConfig):
        self.level, self.n_boot, self.seeds = cfg.analysis.ci_level, cfg.analysis.n_bootstrap, cfg.seeds

    def of(self, a: pd.DataFrame, b: pd.DataFrame | None = None, column: str = "score") -> MeanCI:
        """Mean of `a` (or of a − b, paired by seed and item) with its interval."""
        x = a.set_index(["seed", "item_id"])[column]
        if b is not None:
            y = b.set_index(["seed", "item_id"])[column]
            if not x.index.sort_values().equals(y.index.sort_values()):
                raise ValueError("paired tables hold different items")
            x = x - y.reindex(x.index)
        per_seed = x.groupby(level="seed").mean().reindex(self.seeds).to_numpy()
        first = x.xs(self.seeds[0], level="seed").to_numpy()
        m, lo, hi = difference_interval(per_seed, first, self.level, self.n_boot)
        return MeanCI(mean=num(m), ci=(num(lo), num(hi)))


def analyze(cfg: UnlearningConfig, store: RunStore) -> UnlearningSummary:
    items, relearn, tasks = read_tables(cfg, store)
    results = store.results_dir
    results.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(results / "items.parquet", items.to_parquet(index=False))
    atomic_write_bytes(results / "relearn.parquet", relearn.to_parquet(index=False))
    if not tasks.empty:
        atomic_write_bytes(results / "general_tasks.parquet", tasks.to_parquet(index=False))
    docs, task_metrics = task_documents(tasks, cfg.general_tasks, fractions_only=False)
    iv, delta = Interval(cfg), cfg.analysis.delta
    full = cfg.relearn.train.steps

    def rows(model: str, probe: str) -> pd.DataFrame:
        return items[(items.model == model) & (items.probe == probe)]

    def by_fact(t: pd.DataFrame) -> pd.DataFrame:  # ids of any probe of the forget set, keyed by the fact
        return t.assign(item_id=t.item_id.map(fact_key))

    def documents(model: str, task: str) -> pd.DataFrame:
        return docs[(docs.model == model) & (docs.probe == task)]

    fraction = {task: bool(docs[docs.probe == task].score.between(0, 1).all()) for task in task_metrics}

    def per_task(model: str, drop: bool = False) -> list[TaskScore]:
        """Each general task's metric on `model` (drop: base − model, paired by document)."""
        out = []
        for task, metric in task_metrics.items():
            mine = documents(model, task)
            m = iv.of(documents("base", task), mine) if drop else iv.of(mine)
            out.append(TaskScore(task=task, metric=metric, documents=int((mine.seed == cfg.seeds[0]).sum()),
                                 fraction=fraction[task], mean=m.mean, ci=m.ci))
        return out

    def scores(model: str) -> ProbeScores:
        return ProbeScores(forget=iv.of(rows(model, "forget")), retain=iv.of(rows(model, "retain")),
                           general=iv.of(rows(model, "general")),
                           forget_l2=iv.of(rows(model, "forget_l2")) if cfg.conjugate else None,
                           forget_logprob=iv.of(rows(model, "forget"), column="answer_logprob"), general_tasks=per_task(model))

    def attacked(model: str, attack: str, step: int, probe: str = "forget") -> pd.DataFrame:
        r = relearn[(relearn.model == model) & (relearn.attack == attack) & (relearn.step == step) & (relearn.probe == probe)]
        return r.drop(columns=["fold", "attack", "step"])

    base = scores("base")
    audits = []
    control_ = cfg.has_control
    for name in cfg.audited:
        method = cfg.method_of(name)
        forgetting = iv.of(rows("base", "forget"), rows(name, "forget"))
        unlearned, b = float(rows(name, "forget").score.mean()), float(rows("base", "forget").score.mean())
        results_ = []
        pairs = [(a, attacked(name, a, full), attacked(CONTROL, a, full) if control_ else None, None) for a in cfg.relearn.attacks]
        pairs += [(a, rows(name, probe), rows(CONTROL, probe) if control_ else None, num(rows("base", probe).score.mean()))
                  for a, probe in cfg.prompt_attacks]
        for attack, mine, control, base_attacked in pairs:
            ex = iv.of(mine, control) if control is not None else MeanCI(mean=None, ci=(None, None))
            results_.append(AttackResult(
                attack=attack, attacked=num(mine.score.mean()), control=None if control is None else num(control.score.mean()),
                excess=ex.mean, ci=ex.ci, label=attack_label(ex.ci, delta) if control is not None else NO_CONTROL,
                recovery=iv.of(by_fact(mine), by_fact(rows(name, "forget"))),
                recovered_share=num(recovered_share(float(mine.score.mean()), unlearned, b)), base=base_attacked))
        verdict = model_verdict(forgetting.ci, [r.label for r in results_], delta)
        audits.append(ModelAudit(
            name=name, method=method, verdict=verdict, scores=scores(name), forgetting=forgetting,
            retain_drop=iv.of(rows("base", "retain"), rows(name, "retain")),
            general_drop=iv.of(rows("base", "general"), rows(name, "general")),
            general_task_drops=per_task(name, drop=True), attacks=results_))
    summary = UnlearningSummary(
        name=cfg.name, delta=delta, ci_level=cfg.analysis.ci_level, seeds=cfg.seeds,
        forget_people=None if cfg.pretrained else cfg.forget.people, forget_items=int(rows("base", "forget").item_id.nunique()),
        relearn_steps=full, base=base, control=scores(CONTROL) if control_ else None, models=audits, findings=findings(audits, delta),
        curves=curves(cfg, iv, items, relearn), forgetscope_version=__version__)
    atomic_write_text(store.summary_path, summary.model_dump_json(indent=2))
    return summary


def curves(cfg: UnlearningConfig, iv: Interval, items: pd.DataFrame, relearn: pd.DataFrame) -> list[CurvePoint]:
    out = []
    for model in ([CONTROL] if cfg.has_control else []) + cfg.audited:
        for attack in cfg.relearn.attacks:
            before = items[items.model == model]
            out.append(CurvePoint(model=model, attack=attack, step=0, forget=iv.of(before[before.probe == "forget"]),
                                  retain=iv.of(before[before.probe == "retain"])))
            for step in cfg.relearn.steps():
                r = relearn[(relearn.model == model) & (relearn.attack == attack) & (relearn.step == step)]
                # the retain probe is scored in every fold's run: average the folds per item first
                ret = r[r.probe == "retain"].groupby(["seed", "item_id"], as_index=False)["score"].mean()
                out.append(CurvePoint(model=model, attack=attack, step=step, forget=iv.of(r[r.probe == "forget"]), retain=iv.of(ret)))
    return out


def findings(audits: list[ModelAudit], delta: float) -> list[dict]:
    out = []
    pts = 100.0
    for a in audits:
        if a.verdict == NO_CONTROL or (a.verdict == "not_unlearned" and a.attacks and a.attacks[0].label == NO_CONTROL):
            out.append(_no_control_finding(a, delta))
            continue
        top = max(a.attacks, key=lambda r: -np.inf if r.excess is None else r.excess)
        shown = (f"{a.name}: verdict {a.verdict}; largest excess over the oracle under {top.attack}: {pts * (top.excess or 0):+.1f} "
                 f"points {_ci(top.ci)}, δ = {pts * delta:g}; labels " + ", ".join(f"{r.attack} {r.label}" for r in a.attacks))
        if a.method == "oracle":
            fid, claim, want = "oracle_removed", ("Calibration: a model that never saw the forget set is judged removed "
                                                  "(relearning teaches it no more than the control oracle)."), "removed"
        elif a.method == "idk":
            fid, claim, want = f"{a.name}_hidden", ("Calibration: refusal ('I don't know') tuning only hides the facts: "
                                                    "relearning brings back more than it teaches the oracle."), "hidden"
        else:
            fid, claim, want = f"{a.name}_hidden", (f"Relearning brings back what {a.name} ({a.method}) unlearned: the knowledge is "
                                                    "hidden, not removed."), "hidden"
        if a.verdict == want:
            verdict = "holds"
        elif a.verdict in ("removed", "hidden"):
            verdict = "fails"
        else:
            verdict = "uncertain"
        if a.verdict == "not_unlearned":
            shown = f"{a.name} did not lower the forget score by more than δ (forgetting {pts * (a.forgetting.mean or 0):.1f} points {_ci(a.forgetting.ci)})"
        out.append(finding(fid, claim, "Deeb & Roger 2024" if a.method == "oracle" else SOURCES,
                           "the largest excess of the attacked forget score over the control oracle's", top.excess, top.ci,
                           verdict, shown, unit="fraction"))
    return out


def _no_control_finding(a: ModelAudit, delta: float) -> dict:
    """Without an oracle: what the attacks bring back, never removed or hidden (verdict uncertain)."""
    pts = 100.0
    top = max(a.attacks, key=lambda r: -np.inf if r.recovery.mean is None else r.recovery.mean)
    shown = (f"{a.name}: forgetting {pts * (a.forgetting.mean or 0):.1f} points {_ci(a.forgetting.ci)}; largest recovery under "
             f"{top.attack}: {pts * (top.recovery.mean or 0):+.1f} points {_ci(top.recovery.ci)}, δ = {pts * delta:g}; no oracle, "
             "so no verdict")
    claim = (f"Attacks bring back what {a.name} ({a.method}) unlearned. Without a control oracle this cannot be decided: "
             "a recovery may be what the attack teaches from scratch (give oracle.path).")
    return finding(f"{a.name}_recovered", claim, SOURCES, "the largest recovery of the forget score by an attack (attacked − unlearned)",
                   top.recovery.mean, top.recovery.ci, "uncertain", shown, unit="fraction")


def _ci(ci) -> str:
    return "[–]" if ci[0] is None else f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"
