"""The recipes side by side (whole run): each recipe's trajectory summary and per-seed decomposition
(its run folder's summary.json and results/decomposition_by_seed.parquet, as the trajectory study
wrote them) and its forward KL, into one summary with Pareto frontiers, the KL rank correlation and
the literature's findings, each decided by its interval; and the interpolation sweep's curve (stage 3's
item tables against each recipe's base scores)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forgetscope import __version__
from forgetscope.analysis.findings import finding, interval_verdict
from forgetscope.analysis.stats import num, seed_interval
from forgetscope.errors import UserError
from forgetscope.schema import TrajectorySummary
from forgetscope.store import RunStore, atomic_write_bytes, atomic_write_json
from forgetscope.studies.recipes.config import Recipe, RecipesConfig
from forgetscope.studies.recipes.measures import MIN_POINTS, MIN_SEEDS, at_gain, frontier, spearman_interval
from forgetscope.studies.recipes.inputs import INTERP_FILE, INTERP_STAGE, KL_FILE, KL_STAGE, recipe_dir
from forgetscope.studies.recipes.summary import RecipesSummary

SOURCE = "recipes (Biderman et al. 2024; Lin et al. 2024; Shenfeld et al. 2025)"


def _ci(ci) -> list:
    return [num(ci[0]), num(ci[1])]


def _neg(ci) -> list:
    return [num(0.0 - ci[1]) if ci[1] is not None else None, num(0.0 - ci[0]) if ci[0] is not None else None]  # 0.0 - x: no -0.0


def recipe_tables(cfg: RecipesConfig, store: RunStore, recipe: Recipe) -> tuple[TrajectorySummary, pd.DataFrame, pd.DataFrame]:
    """(its trajectory summary, per-seed decomposition under the first restorer, forward KL per seed and step)."""
    sub = RunStore(recipe_dir(store.root, recipe.name))
    s = TrajectorySummary.model_validate_json(sub.summary_path.read_text())
    if cfg.analysis.target_probe not in s.probes:
        raise UserError(f"analysis.target_probe: {cfg.analysis.target_probe!r} is not a knowledge probe of the runs "
                        f"(one of: {', '.join(sorted(s.probes))})")
    by_seed = pd.read_parquet(sub.results_dir / "decomposition_by_seed.parquet")
    by_seed = by_seed[by_seed["restorer"] == s.restorers[0].condition]
    kl = pd.concat([pd.read_parquet(store.stage(KL_STAGE, seed).path / f"{recipe.name}.{KL_FILE}") for seed in cfg.seeds],
                   ignore_index=True)
    return s, by_seed, kl


def recipe_points(cfg: RecipesConfig, recipe: Recipe, s: TrajectorySummary, kl: pd.DataFrame) -> list[dict]:
    target = {c.step: c for c in s.probes[cfg.analysis.target_probe].checkpoints}
    points = []
    for c in s.probes[s.probe].checkpoints:
        t = target[c.step]
        m, lo, hi = seed_interval(kl.loc[kl["step"] == c.step, "forward_kl"].to_numpy(), cfg.analysis.ci_level)
        points.append({"recipe": recipe.name, "step": c.step, "target_gain": num(0.0 - t.forgetting) if t.forgetting is not None else None,
                       "target_gain_ci": _neg(t.ci.forgetting), "forgetting": c.forgetting, "forgetting_ci": _ci(c.ci.forgetting),
                       "pseudo": c.recovered, "pseudo_ci": _ci(c.ci.recovered), "actual": c.unrecovered, "actual_ci": _ci(c.ci.unrecovered),
                       "label": c.label_ci, "forward_kl": num(m), "forward_kl_ci": [num(lo), num(hi)]})
    gain = [np.nan if p["target_gain"] is None else p["target_gain"] for p in points]
    for part in ("actual", "pseudo"):
        for p, on in zip(points, frontier(gain, [np.nan if p[part] is None else p[part] for p in points]), strict=True):
            p[f"frontier_{part}"] = on
    return points


def _per_seed(by_seed: pd.DataFrame, probe: str, column: str) -> pd.DataFrame:
    """seed x step table of one probe's column."""
    d = by_seed[(by_seed["probe"] == probe) & (by_seed["step"] > 0)]
    return d.pivot_table(index="seed", columns="step", values=column, aggfunc="mean")


def interpolation_points(cfg: RecipesConfig, store: RunStore, probe: str) -> tuple[list[dict], pd.DataFrame]:
    """Per swept recipe and alpha: target gain and forgetting of theta(alpha), each a mean over seeds of
    (score at alpha - the base's score) with its t-interval; the base's scores are the recipe's run's own
    (condition checkpoint, step 0). Also the sweep's item table, every seed."""
    a, points, tables = cfg.analysis, [], []
    for r in cfg.swept:
        sweep = pd.concat([pd.read_parquet(store.stage(INTERP_STAGE, seed).path / f"{r.name}.{INTERP_FILE}") for seed in cfg.seeds],
                          ignore_index=True)
        tables.append(sweep)
        items = pd.read_parquet(RunStore(recipe_dir(store.root, r.name)).results_dir / "items.parquet")
        base = items[(items["condition"] == "checkpoint") & (items["step"] == 0)].groupby(["seed", "probe"])["score"].mean()
        at = sweep.groupby(["alpha", "seed", "probe"])["score"].mean()
        for alpha in cfg.interpolation.alphas:
            gain = np.asarray([at[(alpha, s, a.target_probe)] - base[(s, a.target_probe)] for s in cfg.seeds])
            forgetting = np.asarray([base[(s, probe)] - at[(alpha, s, probe)] for s in cfg.seeds])
            (g, g_lo, g_hi), (f, f_lo, f_hi) = seed_interval(gain, a.ci_level), seed_interval(forgetting, a.ci_level)
            points.append({"recipe": r.name, "step": int(sweep["step"].iloc[0]), "alpha": alpha, "target_gain": num(g),
                           "target_gain_ci": [num(g_lo), num(g_hi)], "forgetting": num(f), "forgetting_ci": [num(f_lo), num(f_hi)]})
    return points, (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame())


def seed_matrix(seeds: list[int], points: list[dict], per_recipe) -> np.ndarray:
    """[seeds, points] of one quantity: `per_recipe(name)` is its seed x step table; NaN where missing."""
    tables = {p["recipe"]: per_recipe(p["recipe"]) for p in points}
    out = np.full((len(seeds), len(points)), np.nan)
    for j, p in enumerate(points):
        t = tables[p["recipe"]]
        for i, seed in enumerate(seeds):
            if seed in t.index and p["step"] in t.columns:
                out[i, j] = t.at[seed, p["step"]]
    return out


def lora_finding(cfg: RecipesConfig, lora: Recipe, full: Recipe, tables: dict, probe: str) -> dict:
    """Per seed: full fine-tuning's forgetting interpolated at LoRA's final target gain, minus LoRA's."""
    target = cfg.analysis.target_probe
    gain_l, forget_l = -_per_seed(tables[lora.name], target, "forgetting"), _per_seed(tables[lora.name], probe, "forgetting")
    gain_f, forget_f = -_per_seed(tables[full.name], target, "forgetting"), _per_seed(tables[full.name], probe, "forgetting")
    last = gain_l.columns.max()
    diffs = []
    for seed in cfg.seeds:
        g = gain_l.at[seed, last]
        matched = at_gain([0.0, *gain_f.loc[seed]], [0.0, *forget_f.loc[seed]], g)
        diffs.append(matched - forget_l.at[seed, last])
    defined = np.asarray([d for d in diffs if np.isfinite(d)])
    m, lo, hi = seed_interval(defined, cfg.analysis.ci_level) if len(defined) else (np.nan, np.nan, np.nan)
    verdict = interval_verdict(lo, hi, 0.0, "above")
    evidence = (f"at step {last} {lora.name} gained {100 * np.nanmean(gain_l[last]):.1f} points on {target}; {full.name} forgot "
                f"{100 * m:+.1f} points more at that gain ({len(defined)} of {len(diffs)} seeds within {full.name}'s range of gains)"
                if len(defined) else f"{lora.name}'s final target gain lies outside {full.name}'s range on every seed: nothing is matched")
    return finding(f"lora_forgets_less:{lora.name}", f"LoRA ({lora.name}) forgets less than full fine-tuning ({full.name}) at matched target gain",
                   SOURCE, f"{probe} forgetting of {full.name} at {lora.name}'s final {target} gain, minus {lora.name}'s (per seed)",
                   m, (lo, hi), verdict, evidence, unit="fraction")


def replay_finding(cfg: RecipesConfig, replay: Recipe, full: Recipe, tables: dict, probe: str) -> dict | None:
    """Per seed, at the replay recipe's last step: full fine-tuning's actual forgetting minus replay's."""
    a_r, a_f = _per_seed(tables[replay.name], probe, "unrecovered"), _per_seed(tables[full.name], probe, "unrecovered")
    step = a_r.columns.max()
    if step not in a_f.columns:
        return None
    diffs = (a_f[step] - a_r[step]).reindex(cfg.seeds).to_numpy()
    m, lo, hi = seed_interval(diffs, cfg.analysis.ci_level)
    return finding(f"replay_reduces_actual:{replay.name}", f"replay ({replay.name}) reduces actual forgetting", SOURCE,
                   f"{probe} actual forgetting (B - R_t) of {full.name} minus {replay.name}'s at step {step} (per seed)",
                   m, (lo, hi), interval_verdict(lo, hi, 0.0, "above"),
                   f"actual forgetting at step {step}: {full.name} {100 * a_f[step].mean():.1f}, {replay.name} {100 * a_r[step].mean():.1f} points",
                   unit="fraction")


def analyze_recipes(cfg: RecipesConfig, store: RunStore) -> RecipesSummary:
    a = cfg.analysis
    summaries, tables, kls, points = {}, {}, [], []
    for r in cfg.recipes:
        s, by_seed, kl = recipe_tables(cfg, store, r)
        summaries[r.name], tables[r.name] = s, by_seed
        kls.append(kl.assign(recipe=r.name))
        points += recipe_points(cfg, r, s, kl)
    first = summaries[cfg.recipes[0].name]
    probe = first.probe
    x = [np.nan if p["forward_kl"] is None else p["forward_kl"] for p in points]
    y = [np.nan if p["forgetting"] is None else p["forgetting"] for p in points]
    kl_all = pd.concat(kls, ignore_index=True)
    x_seed = seed_matrix(cfg.seeds, points, lambda r: kl_all[kl_all["recipe"] == r].pivot_table(
        index="seed", columns="step", values="forward_kl", aggfunc="mean"))
    y_seed = seed_matrix(cfg.seeds, points, lambda r: _per_seed(tables[r], probe, "forgetting"))
    rho, lo, hi = spearman_interval(x, y, x_seed, y_seed, level=a.ci_level)
    n = int(np.sum(np.isfinite(x) & np.isfinite(y)))
    findings = [finding("kl_predicts_forgetting", "forward KL to the base on the fine-tuning data predicts forgetting", SOURCE,
                        f"Spearman correlation of forward KL and {probe} forgetting over {n} recipe x checkpoint points",
                        rho, (lo, hi), interval_verdict(lo, hi, 0.0, "above"),
                        f"rho {rho:+.2f} over {n} points (seed means); "
                        + (f"the interval: the hull of Fisher's z over the {n} points and a jackknife over the {len(cfg.seeds)} seeds"
                           if len(cfg.seeds) >= MIN_SEEDS and n >= MIN_POINTS
                           else f"no interval from fewer than {MIN_SEEDS} seeds or {MIN_POINTS} points")
                        if np.isfinite(rho) else f"undefined over {n} points (fewer than 3, or one side constant)", unit="rho")]
    full = next((r for r in cfg.recipes if r.name == a.reference), None)
    if full is not None:
        findings += [lora_finding(cfg, r, full, tables, probe) for r in cfg.recipes if r.lora is not None]
        findings += [f for r in cfg.recipes if r.replay for f in [replay_finding(cfg, r, full, tables, probe)] if f is not None]
    interpolation, sweep = interpolation_points(cfg, store, probe)
    summary = RecipesSummary.model_validate({
        "name": cfg.name, "probe": probe, "target_probe": a.target_probe, "restorer": first.restorers[0].condition,
        "delta": a.delta, "ci_level": a.ci_level, "seeds": cfg.seeds,
        "recipes": [{"name": r.name, "describe": r.describe(), "options": r.model_dump(mode="json", exclude_defaults=True),
                     "run": f"recipes/{r.name}"} for r in cfg.recipes],
        "points": points, "interpolation": interpolation,
        "kl_correlation": {"against": f"{probe} forgetting", "spearman": num(rho), "ci": [num(lo), num(hi)], "n_points": n,
                           "n_seeds": len(cfg.seeds)},
        "findings": findings, "forgetscope_version": __version__,
    })
    store.results_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(store.results_dir / "points.parquet", pd.DataFrame(summary.model_dump(mode="json")["points"]).to_parquet(index=False))
    atomic_write_bytes(store.results_dir / "forward_kl.parquet", kl_all.to_parquet(index=False))
    if len(sweep):
        atomic_write_bytes(store.results_dir / "interpolation_items.parquet", sweep.to_parquet(index=False))
    atomic_write_json(store.summary_path, summary.model_dump(mode="json"))
    return summary
