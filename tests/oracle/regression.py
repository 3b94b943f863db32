"""The regression study's oracle: every number and verdict of summary.json from the saved
predictions (seed-*/3_evaluate/step-*.parquet) and exact baselines (baselines.parquet), and the
predictions themselves (a sample, every gamma) from the saved models on the regenerated prompts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import config, same, stat, t_interval, verdict

BASELINES = ("ridge", "discrete_bayes", "mixture_bayes", "least_squares", "zero")


def check(run, models: bool = True) -> None:
    """`models`: also check the saved predictions against the saved models (not for a replayed copy)."""
    cfg, s = config(run), _summary(run)
    level, seeds, final = cfg["analysis"]["ci_level"], cfg["seeds"], cfg["finetune"]["train"]["steps"]
    frames = [_seed_frame(run, seed) for seed in seeds]
    for seed in seeds if models else []:
        _check_predictions(run, cfg, seed)
    df = pd.concat(frames, ignore_index=True)
    df["model"] = np.where(df["step"] == 0, "base", np.where(df["step"] == final, "finetuned", ""))
    models = df[df["model"] != ""]

    def over_seeds(per_seed: pd.Series) -> dict:  # per_seed indexed by seed, in seed order
        return stat([per_seed[x] for x in seeds], level)

    # loss per k (gamma 1; the baselines are gamma-free) and at every gamma for the two models
    for fam, f in df.groupby("family"):
        one = models[(models["family"] == fam) & (models["gamma"] == 1.0)]
        for name, g in one.groupby("model"):
            _series(s["loss_by_k"][fam][name], g.groupby(["k", "seed"])["sq"].mean(), "mse", seeds, level, f"loss_by_k.{fam}.{name}")
        b = f[(f["step"] == 0) & (f["gamma"] == 1.0)]
        for name in BASELINES:
            per = ((b[name] - b["y"]) ** 2).groupby([b["k"], b["seed"]]).mean()
            _series(s["loss_by_k"][fam][name], per, "mse", seeds, level, f"loss_by_k.{fam}.{name}")
        for (name, gamma), g in models[models["family"] == fam].groupby(["model", "gamma"]):
            _series(s["conjugate_loss_by_k"][fam][f"{name}@{gamma:g}"], g.groupby(["k", "seed"])["sq"].mean(), "mse", seeds, level,
                    f"conjugate_loss_by_k.{fam}")
        # the fine-tuning effect (mean over k, equal weight per k) and the trajectory over steps
        per_k = one.groupby(["model", "k", "seed"])["sq"].mean()
        base, tuned = per_k["base"].groupby("seed").mean(), per_k["finetuned"].groupby("seed").mean()
        e = s["finetune_effect"][fam]
        same(e["base"], over_seeds(base), f"finetune_effect.{fam}.base")
        same(e["finetuned"], over_seeds(tuned), f"finetune_effect.{fam}.finetuned")
        same(e["change"], over_seeds(tuned - base), f"finetune_effect.{fam}.change")
        _series(e["change_by_k"], per_k["finetuned"] - per_k["base"], "change", seeds, level, f"finetune_effect.{fam}.change_by_k")
        steps = f[f["gamma"] == 1.0].groupby(["step", "seed"])["sq"].mean()
        _series(s["trajectory"][fam], steps, "mse", seeds, level, f"trajectory.{fam}")
        # agreement with ridge and discrete Bayes
        for name, g in one.groupby("model"):
            got = {r["k"]: r for r in s["agreement"][fam][name]}
            for target in ("ridge", "discrete_bayes"):
                per = ((g["pred"] - g[target]) ** 2).groupby([g["k"], g["seed"]]).mean()
                for k, h in per.groupby(level="k"):
                    m, lo, hi = t_interval(h.droplevel("k")[seeds], level)
                    same(got[k][f"to_{target}"], {"mean": m, "ci": [lo, hi]}, f"agreement.{fam}.{name}.k{k}.{target}")
    _check_closeness(s, models, cfg, seeds, level)
    _check_conjugate(s, models, cfg, seeds, level)
    _check_findings(s, cfg)


def _summary(run) -> dict:
    import json

    return json.loads((run / "summary.json").read_text())


def _seed_frame(run, seed: int) -> pd.DataFrame:
    folder = run / f"seed-{seed}" / "3_evaluate"
    preds = pd.concat([pd.read_parquet(p) for p in sorted(folder.glob("step-*.parquet"))], ignore_index=True)
    base = pd.read_parquet(folder / "baselines.parquet")
    df = preds.merge(base, on=["seed", "family", "prompt", "k"], how="left", validate="many_to_one")
    assert df["y"].notna().all(), "a prediction has no prompt in baselines.parquet"
    return df.assign(sq=(df["pred"] - df["y"]) ** 2)


def _series(rows: list[dict], per: pd.Series, value: str, seeds, level, where: str) -> None:
    """`per` indexed by (key, seed): the summary's rows {key, value, ci} over seeds."""
    want = []
    for key, h in per.groupby(level=0):
        m, lo, hi = t_interval(h.droplevel(0)[seeds], level)
        want.append((int(key), m, [lo, hi]))
    assert len(rows) == len(want), where
    for r, (key, m, ci) in zip(rows, want):
        k = next(x for x in ("k", "step", "bin") if x in r)
        same(r[k], key, f"{where}.{k}")
        same({value: r[value], "ci": r["ci"]}, {value: m, "ci": ci}, f"{where}[{k}={key}]")


def _bins(values: np.ndarray, n_bins: int, closest_high: bool) -> np.ndarray:
    """Equal-count bins of `values`, 0 = farthest from the discrete set, n_bins-1 = closest; ties keep
    the table's order."""
    order = np.argsort(-values if not closest_high else values, kind="stable")
    out = np.empty(len(values), dtype=int)
    for b, part in enumerate(np.array_split(order, n_bins)):
        out[part] = b
    return out


def _check_closeness(s, models, cfg, seeds, level) -> None:
    n_bins = cfg["analysis"]["closeness_bins"]
    cont = models[(models["family"] == "continuous") & (models["gamma"] == 1.0) & (models["k"] >= 1)]
    wide = cont.pivot_table(index=["seed", "prompt", "k"], columns="model", values="sq").reset_index()
    meta = cont[cont["model"] == "base"].set_index(["seed", "prompt", "k"])[["posterior_discrete", "w_distance"]]
    wide = wide.join(meta, on=["seed", "prompt", "k"]).sort_values(["seed", "prompt", "k"])
    wide["damage"] = wide["finetuned"] - wide["base"]
    per_seed = {"posterior_discrete": [], "w_distance": []}
    for seed in seeds:
        w = wide[wide["seed"] == seed]
        # posterior: binned within each k (closer = higher posterior), then the bins averaged over k
        by_k = [g.assign(bin=_bins(g["posterior_discrete"].to_numpy(), n_bins, True)) for _, g in w.groupby("k")]
        rows = pd.concat([g.groupby("bin").agg(closeness=("posterior_discrete", "mean"), damage=("damage", "mean"),
                                               base=("base", "mean")) for g in by_k])
        per_seed["posterior_discrete"].append(rows.groupby(level=0).mean())
        # distance of w to the discrete set: per prompt (mean over k), closer = smaller distance
        p = w.groupby("prompt")[["w_distance", "damage", "base"]].mean()
        p["bin"] = _bins(p["w_distance"].to_numpy(), n_bins, False)
        per_seed["w_distance"].append(p.groupby("bin").agg(closeness=("w_distance", "mean"), damage=("damage", "mean"),
                                                           base=("base", "mean")))
    for measure, tables in per_seed.items():
        got = s["closeness"][measure]
        assert [b["bin"] for b in got["bins"]] == list(range(n_bins)), f"closeness.{measure}: bins"
        for b in range(n_bins):
            dmg = [t.loc[b, "damage"] for t in tables]
            m, lo, hi = t_interval(dmg, level)
            base, close = np.mean([t.loc[b, "base"] for t in tables]), np.mean([t.loc[b, "closeness"] for t in tables])
            same(got["bins"][b], {"damage": m, "ci": [lo, hi], "closeness": float(close), "base_mse": float(base),
                                  "relative_damage": float(m / base)}, f"closeness.{measure}.bin{b}")
        diff = [t.loc[n_bins - 1, "damage"] - t.loc[0, "damage"] for t in tables]
        same(got["closest_minus_farthest"], stat(diff, level), f"closeness.{measure}.closest_minus_farthest")


def _check_conjugate(s, models, cfg, seeds, level) -> None:
    small = cfg["analysis"]["small_k"]
    cont = models[models["family"] == "continuous"]
    mse = cont.groupby(["model", "gamma", "seed", "k"])["sq"].mean()
    for gamma in cfg["eval"]["gammas"]:
        b1, f1, fg, bg = (mse[(m, g)] for m, g in (("base", 1.0), ("finetuned", 1.0), ("finetuned", gamma), ("base", gamma)))
        damage, recovered = f1 - b1, f1 - fg
        got = s["conjugate"][f"{gamma:g}"]
        for r in got["per_k"]:
            k = r["k"]
            at = (lambda x: x.xs(k, level="k")[seeds])
            m, lo, hi = t_interval(at(recovered), level)
            same(r, {"recovered": m, "ci": [lo, hi], "base": at(b1).mean(), "finetuned": at(f1).mean(), "conjugate": at(fg).mean(),
                     "base_conjugate": at(bg).mean(), "damage": at(damage).mean(), "recovered_share": at(recovered).mean() / at(damage).mean()},
                 f"conjugate.{gamma:g}.k{k}")
        ks = recovered.index.get_level_values("k")
        for part, keep in (("", ks >= 0), ("_small_k", ks <= small), ("_large_k", ks > small)):
            rec = recovered[keep].groupby("seed").mean()[seeds]
            dmg = damage[keep].groupby("seed").mean()[seeds]
            same(got[f"recovered{part}"], stat(rec, level), f"conjugate.{gamma:g}.recovered{part}")
            same(got[f"share{part}"], rec.mean() / dmg.mean(), f"conjugate.{gamma:g}.share{part}")
            same(got[f"share{part}_by_seed"], list(rec / dmg), f"conjugate.{gamma:g}.share{part}_by_seed")
        small_minus_large = recovered[ks <= small].groupby("seed").mean() - recovered[ks > small].groupby("seed").mean()
        same(got["small_minus_large"], stat(small_minus_large[seeds], level), f"conjugate.{gamma:g}.small_minus_large")


def _check_findings(s, cfg) -> None:
    """Each finding's value, interval and verdict from the summary's own (already checked) statistics."""
    want = {"discrete_loss_falls": (s["finetune_effect"]["discrete"]["change"], "below"),
            "continuous_loss_rises": (s["finetune_effect"]["continuous"]["change"], "above"),
            "closer_hurts_more": (s["closeness"]["posterior_discrete"]["closest_minus_farthest"], "above")}
    for gamma in cfg["eval"]["gammas"]:
        want[f"conjugate_recovers_small_k_gamma_{gamma:g}"] = (s["conjugate"][f"{gamma:g}"]["recovered_small_k"], "above")
    got = {f["id"]: f for f in s["findings"]}
    assert set(got) == set(want), f"findings: {sorted(got)}"
    for fid, (st, side) in want.items():
        lo, hi = st["ci"]
        same({"value": got[fid]["value"], "ci": got[fid]["ci"], "verdict": got[fid]["verdict"]},
             {"value": st["mean"], "ci": [lo, hi], "verdict": verdict(lo, hi, 0.0, side)}, f"findings.{fid}")


def _check_predictions(run, cfg, seed: int, n_prompts: int = 4) -> None:
    """The saved predictions are the saved models' outputs on (X, gamma y), divided by gamma: the
    prompts regenerated from the seed (checked against baselines.parquet's y), the model run here."""
    import torch

    from forgetscope.studies.regression.data import EVAL_STREAM, FAMILIES, TaskFamilies, generator, sample_prompts
    from forgetscope.studies.regression.model import load_model

    t = cfg["task"]
    fam = TaskFamilies.from_seed(t["d"], t["n_discrete"], t["sigma"], t["tau"], seed)
    n_points = t["k_max"] + 1
    folder = run / f"seed-{seed}"
    base = pd.read_parquet(folder / "3_evaluate" / "baselines.parquet")
    final = cfg["finetune"]["train"]["steps"]
    for i, (family, p) in enumerate(FAMILIES.items()):
        prompts = sample_prompts(fam, cfg["eval"]["prompts"], n_points, p, generator(seed, EVAL_STREAM, i))
        ys = base[base["family"] == family].sort_values(["prompt", "k"])["y"].to_numpy().reshape(-1, n_points)
        np.testing.assert_allclose(prompts.ys.double().numpy(), ys, rtol=0, atol=1e-6, err_msg="the regenerated prompts")
        xs, y = prompts.xs[:n_prompts], prompts.ys[:n_prompts]
        for step, path in ((0, folder / "1_base" / "model"), (final, folder / "2_finetune" / "checkpoints" / f"step-{final:06d}")):
            model = load_model(path)
            saved = pd.read_parquet(folder / "3_evaluate" / f"step-{step:06d}.parquet")
            for gamma in (1.0, *cfg["eval"]["gammas"]):
                tokens = torch.zeros(len(xs), 2 * n_points, t["d"])
                tokens[:, 0::2], tokens[:, 1::2, 0] = xs, gamma * y  # x_1, (gamma y_1, 0, ...), x_2, ...
                with torch.no_grad():
                    want = model(tokens).double().numpy() / gamma
                got = saved[(saved["family"] == family) & (saved["gamma"] == gamma) & (saved["prompt"] < n_prompts)]
                got = got.sort_values(["prompt", "k"])["pred"].to_numpy().reshape(-1, n_points)
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"seed {seed} step {step} gamma {gamma} {family}")
