"""What the ideal model says about the regression study's "closer hurts more" (issue 24, item 6).

    python benchmarks/ideal_closeness.py                                   # the demo preset: 8 seeds x 1,000 prompts
    python benchmarks/ideal_closeness.py configs/regression-smoke.yaml
    python benchmarks/ideal_closeness.py --alphas 0.9 0.99 --match-damage 0.496

The ideal pre-trained model is mixture-Bayes at the pre-training prior alpha (`task.alpha`); the ideal
fine-tuned model is the same predictor with the prior on the discrete family moved to alpha' (Kotha et
al.'s reading of fine-tuning). No model is trained: on each seed's own evaluation prompts (the study's
`eval_prompts`, so the same prompts as a run of that config) and its baselines table (`baseline_table`,
what stage 3 writes: posterior, distance), the damage after - before is binned exactly as the study bins
the models' damage (`analysis.regression.ideal_closeness`), with t-intervals over seeds. Rows, alpha':
* data share: the discrete share of every prompt seen in pre-training and fine-tuning (steps x batch);
* the sweep given by --alphas (1 = discrete Bayes: every prompt taken for discrete);
* with --match-damage X: the alpha' whose mean damage on the continuous family equals X (e.g. a run's
  fine-tuned - base continuous MSE, summary.json `finetune_effect.continuous.change.mean`), and, as a
  contrast that is not a Bayes model, the blend beta that does: the pre-training mixture-Bayes
  predictions pulled a share beta of the way to discrete Bayes's whatever the evidence.
Seconds of CPU (the demo preset: about 20 s).
"""

from __future__ import annotations

import argparse
import math
import types

import numpy as np
import pandas as pd
import torch

from forgetscope.analysis.regression import ideal_closeness
from forgetscope.config import load_yaml
from forgetscope.studies.regression import baselines as bl
from forgetscope.studies.regression.config import RegressionConfig
from forgetscope.studies.regression.data import TaskFamilies
from forgetscope.studies.regression.s3_checkpoints_evaluate import baseline_table, eval_prompts


def seed_parts(cfg: RegressionConfig, seed: int) -> tuple[pd.DataFrame, dict[str, bl.MixtureParts]]:
    """The seed's baselines table (as stage 3 writes it) and the mixture's parts per family, in its row order."""
    t = cfg.task
    ctx = types.SimpleNamespace(cfg=cfg, seed=seed, families=TaskFamilies.from_seed(t.d, t.n_discrete, t.sigma, t.tau, seed))
    prompts = eval_prompts(ctx)
    base = baseline_table(ctx, prompts)
    parts = {fam: bl.mixture_parts(p.xs, p.ys, ctx.families.discrete, t.sigma, t.tau) for fam, p in prompts.items()}
    before = torch.cat([pt.predict(t.alpha).reshape(-1) for pt in parts.values()]).numpy()
    if not np.allclose(before, base["mixture_bayes"].to_numpy(), rtol=0, atol=1e-9):  # the rows must line up
        raise SystemExit(f"seed {seed}: mixture_parts at alpha {t.alpha} differ from the table's mixture_bayes")
    return base, parts


def shifted(alpha: float):
    """The ideal fine-tuned model: mixture-Bayes at prior alpha' on the discrete family."""
    return lambda parts: parts.predict(alpha)


def blended(alpha: float, beta: float):
    """The contrast (not a Bayes model): mixture-Bayes at the pre-training prior, its predictions pulled a
    share beta of the way to discrete Bayes's whatever the evidence."""
    return lambda parts: (1 - beta) * parts.predict(alpha) + beta * parts.discrete


def with_after(base: pd.DataFrame, parts: dict[str, bl.MixtureParts], model) -> pd.DataFrame:
    return base.assign(after=torch.cat([model(pt).reshape(-1) for pt in parts.values()]).numpy())


def continuous_damage(seeds: list[tuple[pd.DataFrame, dict[str, bl.MixtureParts]]], model) -> float:
    """Mean over seeds, prompts and k of the continuous family's damage (as ideal_closeness computes it,
    without the tables: the bisection below calls it often)."""
    out = []
    for base, parts in seeds:
        cont = base[base["family"] == "continuous"]
        y, mix = cont["y"].to_numpy(), cont["mixture_bayes"].to_numpy()
        out.append(((model(parts["continuous"]).reshape(-1).numpy() - y) ** 2 - (mix - y) ** 2).mean())
    return float(np.mean(out))


def match(seeds, target: float, family, lo: float, hi: float) -> float | None:
    """The parameter in (lo, hi) at which `family(parameter)` has mean continuous damage `target`
    (bisection; the damage grows with the parameter), or None where the range does not reach it."""
    if not continuous_damage(seeds, family(lo)) < target < continuous_damage(seeds, family(hi)):
        return None
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if continuous_damage(seeds, family(mid)) < target else (lo, mid)
    return (lo + hi) / 2


def _iv(s: dict) -> str:
    lo, hi = s["ci"]
    return f"{s['mean']:+.3f}" + ("" if lo is None else f" [{lo:+.3f}, {hi:+.3f}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default="configs/regression-demo.yaml",
                    help="a regression config (its task, seeds, eval prompts, bins)")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.75, 0.9, 0.99, 0.999, 1.0],
                    help="priors alpha' on the discrete family after fine-tuning")
    ap.add_argument("--match-damage", type=float, help="also the alpha' whose mean continuous damage equals this MSE")
    args = ap.parse_args()
    cfg = RegressionConfig.model_validate(load_yaml(args.config)[0])
    t, level, bins = cfg.task, cfg.analysis.ci_level, cfg.analysis.closeness_bins
    seeds = [seed_parts(cfg, s) for s in cfg.seeds]
    pre, ft = cfg.base.train.steps * cfg.base.train.batch_size, cfg.finetune.train.steps * cfg.finetune.train.batch_size
    prior = lambda z: shifted(1 / (1 + math.exp(-z)))  # noqa: E731  (alpha' by its log-odds)
    rows = [("prior alpha'", "data share", bl.data_share_alpha(t.alpha, pre, ft)),
            *(("prior alpha'", "sweep", a) for a in args.alphas)]
    if args.match_damage is not None and 0 < t.alpha < 1:
        x = args.match_damage
        z = match(seeds, x, prior, math.log(t.alpha / (1 - t.alpha)), 40.0)
        beta = match(seeds, x, lambda b: blended(t.alpha, b), 0.0, 1.0)
        for kind, v in (("prior alpha'", None if z is None else 1 / (1 + math.exp(-z))), ("blend beta", beta)):
            print(f"matching a continuous damage of {x:g}: " + (f"no {kind} reaches it" if v is None else f"{kind} = {v:.6f}"))
            rows += [] if v is None else [(kind, f"matched {x:g}", v)]
    print(f"{args.config}: {len(cfg.seeds)} seeds x {cfg.eval.prompts} continuous prompts, k >= 1, {bins} bins per seed "
          f"(0 = farthest); alpha = {t.alpha}; {100 * level:g}% t-intervals over seeds\n")
    print("| after model | which | value | damage discrete | damage continuous | measure | damage per bin, farthest -> closest "
          "| closest - farthest | verdict | peak bin |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind, label, v in rows:
        model = shifted(v) if kind == "prior alpha'" else blended(t.alpha, v)
        r = ideal_closeness([with_after(b, p, model) for b, p in seeds], "after", bins, level)
        dmg = r["family_damage"]
        for measure, c in r["closeness"].items():
            per_bin = ", ".join(f"{b['mean']:.3f}" for b in c["bins"])
            print(f"| {kind} | {label} | {v:.6g} | {_iv(dmg['discrete'])} | {_iv(dmg['continuous'])} | {measure} | {per_bin} "
                  f"| {_iv(c['closest_minus_farthest'])} | {c['verdict']} | {c['peak_bin']} |")

if __name__ == "__main__":
    main()
