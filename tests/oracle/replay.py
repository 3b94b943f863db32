"""A finished run's copy with new scores, analysed again by the study's own analysis stage: the smoke
runs' tiny random models score 0 almost everywhere, which would leave most of an oracle's labels,
bins and verdicts untested. The scores are drawn per condition and step from a fixed design so that
the labels cover none, pseudo, actual and uncertain; the stage then writes summary.json again."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import yaml

SKIP = shutil.ignore_patterns("*.safetensors", "model", "checkpoints", "tokenizer", "report.html")


def copy_run(run, dest):
    shutil.copytree(run, dest, ignore=SKIP)
    return dest


def _rewrite(files, change) -> None:
    for f in files:
        df = pd.read_parquet(f)
        change(df).to_parquet(f, index=False)


# The share of items right, per condition and step (the base, then the checkpoints in order; the
# last share stands for any later checkpoint). The default reads pseudo, actual, actual; the probes
# below change one thing each: a pseudo after an actual, an actual that a larger budget restores (not
# saturated), a control that restoration damages.
TRAJECTORY = {"checkpoint": [0.9, 0.4, 0.5, 0.2], "restored": [0.9, 0.9, 0.5, 0.3], "restored-x2": [0.9, 0.9, 0.5, 0.3],
              "interp-0.50": [0.9, 0.85, 0.3, 0.4]}
PROBES = {"cloze_l2": {"restored": [0.9, 0.9, 0.3, 0.9], "restored-x2": [0.9, 0.9, 0.3, 0.9]},
          "qa_l1": {"restored-x2": [0.9, 0.9, 0.9, 0.3]},
          "icl_l2": {"restored": [0.6, 0.9, 0.5, 0.3]},
          "private_l1": {"checkpoint": [0.1, 0.5, 0.9, 0.9]}}


def trajectory(run, dest, seed: int = 0, primary: str | None = None, seeds: int = 1):
    """Scores of probe items (and curve points) drawn from TRAJECTORY and PROBES: per item and seed one
    uniform draw u, and an item is right where u < the share of its condition and step (so the right
    items at a lower share are a subset of those at a higher one: paired, as real scores are).
    `primary`: the probe the summary leads with (analysis.primary_probe); `seeds`: seed 0's folder
    copied as seeds 1, 2, ... (their scores drawn anew), for the t-intervals over seeds."""
    copy_run(run, dest)
    for k in range(1, seeds):
        if not (dest / f"seed-{k}").exists():
            shutil.copytree(dest / "seed-0", dest / f"seed-{k}")
        _rewrite(sorted((dest / f"seed-{k}").glob("*/*.parquet")), lambda df, k=k: df.assign(seed=k) if "seed" in df else df)
    rng = np.random.default_rng(seed)
    steps = sorted({int(p.name[5:11]) for p in dest.glob("seed-*/4_evaluate/step-*.items.parquet")})
    draws: dict = {}

    def change(df):
        u = np.array([draws.setdefault((s, i), rng.random()) for s, i in zip(df["seed"], df["item_id"], strict=True)])
        share = [{**TRAJECTORY, **PROBES.get(p, {})}[c][min(steps.index(s), 3)]
                 for p, c, s in zip(df["probe"], df["condition"], df["step"], strict=True)]
        return df.assign(score=(u < np.array(share)).astype(float))

    _rewrite(sorted(dest.glob("seed-*/*/*.items.parquet")) + sorted(dest.glob("seed-*/*/*.curve.parquet")), change)
    from forgetscope.store import RunStore
    from forgetscope.studies.trajectory.config import TrajectoryConfig
    from forgetscope.studies.trajectory.s7_results_analyze import analyze

    cfg = yaml.safe_load((dest / "config.yaml").read_text())
    cfg["seeds"] = list(range(seeds))
    cfg["analysis"]["primary_probe"] = primary or cfg["analysis"]["primary_probe"]
    (dest / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    analyze(TrajectoryConfig.model_validate(cfg), RunStore(dest))
    return dest


def regression(run, dest, seed: int = 0):
    """Fine-tuning halves the discrete family's error and stretches the continuous family's by a
    prompt-dependent factor, which a conjugate prompt (gamma > 1) shrinks by gamma squared."""
    copy_run(run, dest)
    y = pd.concat([pd.read_parquet(f) for f in sorted(dest.glob("seed-*/3_evaluate/baselines.parquet"))])
    y = y.set_index(["seed", "family", "prompt", "k"])["y"]

    def change(df):
        t = df["step"] / df["step"].max() if df["step"].max() else 0 * df["step"]
        truth = y.loc[pd.MultiIndex.from_frame(df[["seed", "family", "prompt", "k"]])].to_numpy()
        closer = truth + (df["pred"] - truth) * (1 - 0.5 * t)
        away = truth + (df["pred"] - truth) * (1 + t * (0.5 + 0.1 * (df["prompt"] % 5)) / df["gamma"] ** 2)
        return df.assign(pred=np.where(df["family"] == "discrete", closer, away))

    _rewrite(sorted(dest.glob("seed-*/3_evaluate/step-*.parquet")), change)
    from forgetscope.store import RunStore
    from forgetscope.studies.regression.config import RegressionConfig
    from forgetscope.studies.regression.s4_results_analyze import analyze

    analyze(RegressionConfig.model_validate(yaml.safe_load((dest / "config.yaml").read_text())), RunStore(dest))
    return dest


def conjugate(run, dest, seed: int = 0, seeds: int = 3):
    """Model suites: the base right on 80% under every transform, the tuned model on 30% under the
    first (identity) and 60% under the others; fact world: likewise per step, refusals at random,
    seed 0's items copied as seeds 1, 2, ... (`seeds` in all) for the t-intervals over seeds."""
    copy_run(run, dest)
    for f in sorted(dest.glob("3_fact_world/seed-0.*.items.parquet")):
        for k in range(1, seeds):
            pd.read_parquet(f).assign(seed=k).to_parquet(f.with_name(f.name.replace("seed-0.", f"seed-{k}.")), index=False)
    rng = np.random.default_rng(seed)

    def change(df):
        first = df["transform"] == "identity"
        tuned = (df["model"] == "tuned") & (df.get("step", pd.Series(1, index=df.index)) != 0)
        share = np.where(tuned, np.where(first, 0.3, 0.6), 0.8)
        refused = rng.random(len(df)) < np.where(tuned, 0.7, 0.1)
        return df.assign(score=(rng.random(len(df)) < share).astype(float), refused=refused.astype(float),
                         leaked=(rng.random(len(df)) < 0.2).astype(float))

    _rewrite(sorted(dest.glob("2_evaluate/*.items.parquet")) + sorted(dest.glob("3_fact_world/*.items.parquet")), change)
    from forgetscope.store import RunStore
    from forgetscope.studies.conjugate.config import ConjugateConfig
    from forgetscope.studies.conjugate.s4_results_analyze import analyze

    analyze(ConjugateConfig.model_validate(yaml.safe_load((dest / "config.yaml").read_text())), RunStore(dest))
    return dest
