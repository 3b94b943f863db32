"""The ideal model of the regression study (issue 24, item 6): mixture-Bayes at any prior on the discrete
family is ridge at 0 and discrete Bayes at 1, equals a brute-force Monte-Carlo posterior (w drawn from
the mixture prior, weighted by the likelihood of the prefix), and its damage is binned exactly as the
study bins the models' damage."""

import numpy as np
import pandas as pd
import pytest
import torch

from forgetscope.analysis.regression import ideal_closeness, seed_tables
from forgetscope.studies.regression import baselines as bl
from forgetscope.studies.regression.data import EVAL_STREAM, TaskFamilies, generator, sample_prompts

from test_regression_baselines import SIGMA, TAU, fam, prompts  # noqa: F401 - the same task family and prompts (fixtures)


def test_mixture_is_ridge_at_prior_0_and_discrete_bayes_at_1(prompts, fam):
    ridge = bl.ridge(prompts.xs, prompts.ys, SIGMA**2 / TAU**2)
    disc = bl.discrete_bayes(prompts.xs, prompts.ys, fam.discrete, SIGMA)
    parts = bl.mixture_parts(prompts.xs, prompts.ys, fam.discrete, SIGMA, TAU)
    for alpha, want in ((0.0, ridge), (1.0, disc)):
        got = bl.mixture_bayes(prompts.xs, prompts.ys, fam.discrete, SIGMA, TAU, alpha)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
        torch.testing.assert_close(parts.predict(alpha), want, rtol=0, atol=1e-12)
    # close to the ends the prior still decides where the evidence does not: at k = 0 the prediction is the
    # prior-weighted pair, and the two ends differ by far more than the tolerance
    assert (ridge - disc).abs()[:, 0].max() > 0.1
    for alpha in (1e-9, 0.1, 0.5, 0.9, 1 - 1e-9):
        got = parts.predict(alpha)
        want = bl.mixture_bayes(prompts.xs, prompts.ys, fam.discrete, SIGMA, TAU, alpha)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
        torch.testing.assert_close(got[:, 0], alpha * disc[:, 0] + (1 - alpha) * ridge[:, 0], rtol=0, atol=1e-12)


def test_mixture_matches_brute_force_monte_carlo_posterior():
    """Tiny case (d = 2, N = 3, k <= 3): 400,000 w drawn from the mixture prior, each weighted by the
    Gaussian likelihood of the prefix; the weighted share of discrete draws is P(discrete | prefix) and
    the weighted mean of <w, x_query> the Bayes prediction. Agreement within 5 Monte-Carlo standard
    errors (self-normalised importance sampling, delta method) at priors 0.3 and 0.9 (after a shift)."""
    d, n, sigma, tau, m = 2, 3, 0.6, 1.3, 400_000
    fam = TaskFamilies.from_seed(d, n, sigma, tau, seed=3)
    p = sample_prompts(fam, 6, 4, 0.5, generator(3, EVAL_STREAM, 0))
    xs, ys = p.xs.double(), p.ys.double()
    g = torch.Generator().manual_seed(0)
    for alpha in (0.3, 0.9):
        is_disc = torch.rand(m, generator=g) < alpha
        w = torch.where(is_disc[:, None], fam.discrete.double()[torch.randint(n, (m,), generator=g)],
                        tau * torch.randn(m, d, generator=g, dtype=torch.float64))
        post = bl.posterior_discrete(xs, ys, fam.discrete, sigma, tau, alpha)
        pred = bl.mixture_bayes(xs, ys, fam.discrete, sigma, tau, alpha)
        worst = 0.0
        for b in range(len(xs)):
            fx = xs[b] @ w.T  # [points, m]
            sq = torch.cumsum((ys[b][:, None] - fx) ** 2, dim=0) - (ys[b][:, None] - fx) ** 2  # earlier points only
            for i in range(4):
                lw = -sq[i] / (2 * sigma**2)
                wt = torch.exp(lw - lw.max())
                wt = wt / wt.sum()
                for f, want in ((is_disc.double(), post[b, i]), (fx[i], pred[b, i])):
                    est = (wt * f).sum()
                    se = torch.sqrt((wt**2 * (f - est) ** 2).sum())
                    assert abs(est - want) < 5 * se + 1e-4, (alpha, b, i, float(est), float(want), float(se))
                    worst = max(worst, float(abs(est - want) / (se + 1e-12)))
        assert worst > 0.01  # the estimates are noisy draws, not copies of the closed form


def test_data_share_alpha():
    assert bl.data_share_alpha(0.5, 160_000, 25_600) == pytest.approx(105_600 / 185_600)
    assert bl.data_share_alpha(0.3, 1000, 0) == pytest.approx(0.3)
    assert bl.data_share_alpha(0.0, 100, 100) == pytest.approx(0.5)


def _base_table(seed: int, prompts: int = 30, k: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for family in ("discrete", "continuous"):
        w_dist = rng.uniform(0, 2, prompts)
        for p in range(prompts):
            for i in range(k + 1):
                rows.append({"seed": seed, "family": family, "prompt": p, "k": i, "y": rng.normal(),
                             "mixture_bayes": rng.normal(), "after": rng.normal(), "ridge": rng.normal(),
                             "discrete_bayes": rng.normal(), "posterior_discrete": rng.uniform(), "w_distance": w_dist[p]})
    return pd.DataFrame(rows)


def test_ideal_closeness_bins_as_the_study_bins_the_models():
    """The ideal model's damage per bin equals the study's own `seed_tables` fed the ideal model as its
    base (step 0) and fine-tuned model; closest - farthest, family damage and the verdict by hand."""
    bases = [_base_table(s) for s in (0, 1, 2)]
    got = ideal_closeness(bases, "after", bins=3, level=0.95)
    diffs = {"posterior_discrete": [], "w_distance": []}
    for base in bases:
        preds = pd.concat([base[["seed", "family", "prompt", "k"]].assign(step=step, gamma=gamma, pred=base[col])
                           for step, col in ((0, "mixture_bayes"), (10, "after")) for gamma in (1.0, 2.0)], ignore_index=True)
        study = seed_tables(base.drop(columns="after"), preds, baselines=["mixture_bayes"], final_step=10, gammas=[2.0],
                            closeness_bins=3)["closeness"]
        seed = int(base["seed"].iat[0])
        for measure, g in study.groupby("measure"):
            dmg = g.sort_values("bin")["damage"].to_numpy()
            mine = [b["by_seed"][seed] for b in got["closeness"][measure]["bins"]]
            np.testing.assert_allclose(mine, dmg, atol=1e-6)
            diffs[measure].append(dmg[-1] - dmg[0])
    for measure, d in diffs.items():
        c = got["closeness"][measure]
        assert c["closest_minus_farthest"]["mean"] == pytest.approx(np.mean(d), abs=1e-6)
        lo, hi = c["closest_minus_farthest"]["ci"]
        assert c["verdict"] == ("holds" if lo > 0 else "fails" if hi <= 0 else "uncertain")
        assert c["peak_bin"] == int(np.argmax([b["mean"] for b in c["bins"]]))
    for family in ("discrete", "continuous"):
        want = [((b["after"] - b["y"]) ** 2 - (b["mixture_bayes"] - b["y"]) ** 2)[b["family"] == family].mean()
                for b in bases]
        np.testing.assert_allclose(got["family_damage"][family]["by_seed"], want, atol=1e-6)
