"""The regression study's building blocks: the exact baselines equal their closed forms (checked
prompt by prompt against direct numpy/scipy computations, and against Monte-Carlo Bayes risk), each
Bayes predictor wins on its own family, and prompts are deterministic functions of (seed, stream, step)."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from forgetscope.studies.regression import baselines as bl
from forgetscope.studies.regression.data import (
    EVAL_STREAM,
    FINETUNE_STREAM,
    PRETRAIN_STREAM,
    RegressionBatches,
    TaskFamilies,
    generator,
    interleave,
    prefix_mse_sum,
    sample_prompts,
)
from forgetscope.studies.regression.config import RegressionModelConfig
from forgetscope.studies.regression.model import (
    build_model,
    load_model,
    save_model,
)

D, N, SIGMA, TAU, ALPHA, K = 3, 6, 0.7, 1.3, 0.4, 6


@pytest.fixture(scope="module")
def fam():
    return TaskFamilies.from_seed(D, N, SIGMA, TAU, seed=5)


@pytest.fixture(scope="module")
def prompts(fam):
    return sample_prompts(fam, 24, K + 1, 0.5, generator(5, EVAL_STREAM, 0))


def _np(t):
    return t.double().numpy()


def test_ridge_and_least_squares_match_numpy_per_prompt(prompts):
    lam = SIGMA**2 / TAU**2
    ridge, lsq = _np(bl.ridge(prompts.xs, prompts.ys, lam)), _np(bl.least_squares(prompts.xs, prompts.ys))
    xs, ys = _np(prompts.xs), _np(prompts.ys)
    for b in range(len(xs)):
        for i in range(K + 1):
            x, y = xs[b, :i], ys[b, :i]
            w = np.linalg.solve(x.T @ x + lam * np.eye(D), x.T @ y)
            assert ridge[b, i] == pytest.approx(w @ xs[b, i], abs=1e-9)
            w_ls = np.linalg.lstsq(x, y, rcond=None)[0] if i else np.zeros(D)  # minimum-norm solution
            assert lsq[b, i] == pytest.approx(w_ls @ xs[b, i], abs=1e-7)
    assert np.all(_np(bl.zero(prompts.xs, prompts.ys)) == 0)


def test_discrete_bayes_matches_direct_posterior(prompts, fam):
    pred = _np(bl.discrete_bayes(prompts.xs, prompts.ys, fam.discrete, SIGMA))
    xs, ys, vecs = _np(prompts.xs), _np(prompts.ys), _np(fam.discrete)
    for b in range(len(xs)):
        for i in range(K + 1):
            loglik = np.array([stats.norm.logpdf(ys[b, :i], xs[b, :i] @ v, SIGMA).sum() for v in vecs])
            post = np.exp(loglik - loglik.max())
            post /= post.sum()
            assert pred[b, i] == pytest.approx(post @ (vecs @ xs[b, i]), abs=1e-9)


def test_family_posterior_and_mixture_match_direct_evidence(prompts, fam):
    p = _np(bl.posterior_discrete(prompts.xs, prompts.ys, fam.discrete, SIGMA, TAU, ALPHA))
    mix = _np(bl.mixture_bayes(prompts.xs, prompts.ys, fam.discrete, SIGMA, TAU, ALPHA))
    ridge = _np(bl.ridge(prompts.xs, prompts.ys, SIGMA**2 / TAU**2))
    disc = _np(bl.discrete_bayes(prompts.xs, prompts.ys, fam.discrete, SIGMA))
    xs, ys, vecs = _np(prompts.xs), _np(prompts.ys), _np(fam.discrete)
    for b in range(len(xs)):
        for i in range(1, K + 1):
            x, y = xs[b, :i], ys[b, :i]
            log_cont = stats.multivariate_normal.logpdf(y, np.zeros(i), SIGMA**2 * np.eye(i) + TAU**2 * x @ x.T)
            log_disc = np.logaddexp.reduce([stats.norm.logpdf(y, x @ v, SIGMA).sum() for v in vecs]) - math.log(N)
            want = 1 / (1 + (1 - ALPHA) / ALPHA * np.exp(log_cont - log_disc))
            assert p[b, i] == pytest.approx(want, abs=1e-9)
    assert p[:, 0] == pytest.approx(np.full(len(xs), ALPHA))
    assert mix == pytest.approx(p * disc + (1 - p) * ridge, abs=1e-12)


def test_ridge_is_invariant_to_label_scaling(prompts):
    lam = SIGMA**2 / TAU**2
    a = bl.ridge(prompts.xs, prompts.ys, lam)
    b = bl.ridge(prompts.xs, 2.0 * prompts.ys, lam) / 2.0
    torch.testing.assert_close(a, b)


def _mc(fam, p_discrete, n=20000, seed=1):
    p = sample_prompts(fam, n, K + 1, p_discrete, generator(seed, EVAL_STREAM, 1))
    preds = bl.all_baselines(p.xs, p.ys, fam.discrete, SIGMA, TAU, ALPHA)
    return p, {k: ((v - p.ys.double()) ** 2).mean(0).numpy() for k, v in preds.items()}


def test_monte_carlo_bayes_risk_continuous(fam):
    """Ridge's Monte-Carlo MSE equals the Bayes risk: the mean posterior predictive variance
    sigma^2 + x^T Sigma_post x, Sigma_post = sigma^2 (X^T X + lambda I)^-1; and nothing beats it."""
    p, mse = _mc(fam, 0.0)
    a, _, _ = bl._prefix_stats(p.xs, p.ys)
    cov = SIGMA**2 * torch.linalg.inv(a + SIGMA**2 / TAU**2 * torch.eye(D, dtype=torch.float64))
    x = p.xs.double()
    risk = (SIGMA**2 + torch.einsum("bni,bnij,bnj->bn", x, cov, x)).mean(0).numpy()
    se = np.sqrt(2.0 / len(p)) * risk * 1.5  # squared Gaussian errors: sd of the mean ~ sqrt(2/n) x risk
    assert np.all(np.abs(mse["ridge"] - risk) < 4 * se)
    assert risk[0] == pytest.approx(SIGMA**2 + TAU**2 * D, rel=0.03)
    assert mse["zero"] == pytest.approx(np.full(K + 1, SIGMA**2 + TAU**2 * D), rel=0.05)
    for other in ("discrete_bayes", "least_squares", "zero"):
        assert mse["ridge"][1:].sum() < mse[other][1:].sum()


def test_monte_carlo_bayes_risk_discrete(fam):
    """Discrete Bayes's MSE equals sigma^2 + the posterior variance of <w, x>; it beats ridge there."""
    p, mse = _mc(fam, 1.0)
    logw, preds = bl._discrete_log_weights(p.xs, p.ys, fam.discrete, SIGMA)
    w = torch.softmax(logw, dim=-1)
    var = (w * preds**2).sum(-1) - (w * preds).sum(-1) ** 2
    risk = (SIGMA**2 + var).mean(0).numpy()
    se = np.sqrt(2.0 / len(p)) * risk * 1.5
    assert np.all(np.abs(mse["discrete_bayes"] - risk) < 4 * se)
    for other in ("ridge", "least_squares", "mixture_bayes", "zero"):
        assert mse["discrete_bayes"][1:].sum() < mse[other][1:].sum()
    assert np.all(mse["discrete_bayes"][2:] < mse["ridge"][2:])


def test_nearest_discrete_distance(fam):
    w = torch.cat([fam.discrete[:2].double(), torch.zeros(1, D, dtype=torch.float64)])
    d = bl.nearest_discrete_distance(w, fam.discrete).numpy()
    assert d[:2] == pytest.approx([0, 0])
    assert d[2] == pytest.approx(float(fam.discrete.double().norm(dim=1).min()))


# -- data: prompts and samplers ------------------------------------------------------------------
def test_prompts_are_deterministic_per_seed_stream_step(fam):
    a = sample_prompts(fam, 8, 5, 0.5, generator(3, PRETRAIN_STREAM, 7))
    b = sample_prompts(fam, 8, 5, 0.5, generator(3, PRETRAIN_STREAM, 7))
    c = sample_prompts(fam, 8, 5, 0.5, generator(3, FINETUNE_STREAM, 7))
    for k, v in a.tensors().items():
        torch.testing.assert_close(v, b.tensors()[k])
    assert not torch.equal(a.xs, c.xs)
    torch.testing.assert_close(TaskFamilies.from_seed(D, N, SIGMA, TAU, 5).discrete, fam.discrete)
    assert not torch.equal(TaskFamilies.from_seed(D, N, SIGMA, TAU, 6).discrete, fam.discrete)


def test_families_and_curriculum(fam):
    disc = sample_prompts(fam, 50, 4, 1.0, generator(0, PRETRAIN_STREAM, 0))
    assert (disc.discrete_index >= 0).all()
    torch.testing.assert_close(disc.w, fam.discrete[disc.discrete_index])
    cont = sample_prompts(fam, 50, 4, 0.0, generator(0, PRETRAIN_STREAM, 0), active_dims=1)
    assert (cont.discrete_index == -1).all()
    assert (cont.xs[:, :, 1:] == 0).all() and (cont.xs[:, :, 0] != 0).all()


def test_sampler_split_equals_whole_and_interleave(fam):
    b = RegressionBatches(fam, 5, 0.5, seed=0, stream=PRETRAIN_STREAM)
    idx = b.global_indices(3, 8)
    whole = b.collate(idx)
    parts = [b.collate(idx[r::2]) for r in range(2)]
    torch.testing.assert_close(torch.cat([parts[0]["inputs"], parts[1]["inputs"]]), whole["inputs"][[*range(0, 8, 2), *range(1, 8, 2)]])
    assert b.label_tokens(idx) == 8 * 5
    xs, ys = torch.randn(2, 3, D), torch.randn(2, 3)
    tok = interleave(xs, ys)
    assert tok.shape == (2, 6, D)
    torch.testing.assert_close(tok[:, 0::2], xs)
    torch.testing.assert_close(tok[:, 1::2, 0], ys)
    assert (tok[:, 1::2, 1:] == 0).all()


def test_model_is_causal_and_round_trips(tmp_path, fam):
    model = build_model(RegressionModelConfig(layers=2, width=16, heads=2), D, 5, seed=0).eval()
    p = sample_prompts(fam, 4, 5, 0.5, generator(0, EVAL_STREAM, 0))
    inputs = interleave(p.xs, p.ys)
    out = model(inputs)
    assert out.shape == (4, 5)
    changed = inputs.clone()
    changed[:, 5:] += 1.0  # from the y of point 2 on
    torch.testing.assert_close(model(changed)[:, :3], out[:, :3])  # predictions of y_0..y_2 do not see it
    with torch.no_grad():
        loss, terms = prefix_mse_sum(model, {"inputs": inputs, "targets": p.ys})
    assert terms == 20 and float(loss) == pytest.approx(float(((out.detach() - p.ys) ** 2).sum()), rel=1e-6)
    save_model(model, tmp_path / "m")
    torch.testing.assert_close(load_model(tmp_path / "m")(inputs), out)
    assert build_model(RegressionModelConfig(layers=2, width=16, heads=2), D, 5, seed=0).state_dict().keys() == model.state_dict().keys()


def _full_forward(model, inputs):
    """The model as first written: every block on every position, the x positions read out at the end."""
    h = model.read_in(inputs) + model.positions[: inputs.shape[1]]
    for block in model.blocks:
        b, t, w = h.shape
        q, k, v = block.qkv(block.ln1(h)).view(b, t, 3, block.heads, w // block.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(w // block.heads)
                            + torch.full((t, t), float("-inf")).triu(1), dim=-1) @ v
        h = h + block.proj(att.transpose(1, 2).reshape(b, t, w))
        h = h + block.out(torch.nn.functional.gelu(block.fc(block.ln2(h)), approximate="tanh"))
    return model.read_out(model.ln_f(h[:, ::2])).squeeze(-1)


@pytest.mark.parametrize("layers", [1, 3])
def test_forward_skipping_unread_positions_equals_full_recomputation(fam, layers):
    """The forward pass leaves out the last y token and runs the last block's MLP on x positions only;
    predictions and gradients equal a plain recomputation over every position (float64)."""
    model = build_model(RegressionModelConfig(layers=layers, width=16, heads=2), D, 6, seed=1).double()
    p = sample_prompts(fam, 5, 6, 0.5, generator(1, EVAL_STREAM, 0))
    inputs = interleave(p.xs, p.ys).double()
    fast, full = model(inputs), _full_forward(model, inputs)
    assert fast.shape == (5, 6)
    torch.testing.assert_close(fast, full, rtol=1e-10, atol=1e-12)
    g_fast = torch.autograd.grad(((fast - p.ys.double()) ** 2).sum(), list(model.parameters()))
    g_full = torch.autograd.grad(((full - p.ys.double()) ** 2).sum(), list(model.parameters()))
    for a, b in zip(g_fast, g_full):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_ridge_prior_is_sigma2_over_tau2(prompts, fam):
    """The baselines' ridge is the Bayes posterior mean under w ~ N(0, tau^2 I), y = <w, x> + N(0, sigma^2),
    computed here in the kernel form E[w | X, y] = tau^2 X^T (tau^2 X X^T + sigma^2 I)^-1 y (no lambda
    at all); the ridge penalties sigma^2 / tau and sigma / tau give other numbers, by far more than the
    tolerance."""
    got = bl.all_baselines(prompts.xs, prompts.ys, fam.discrete, SIGMA, TAU, ALPHA)
    p = _np(bl.posterior_discrete(prompts.xs, prompts.ys, fam.discrete, SIGMA, TAU, ALPHA))
    disc = _np(bl.discrete_bayes(prompts.xs, prompts.ys, fam.discrete, SIGMA))
    xs, ys = _np(prompts.xs), _np(prompts.ys)
    want = np.zeros(ys.shape)
    for b in range(len(xs)):
        for i in range(1, K + 1):
            x, y = xs[b, :i], ys[b, :i]
            w = TAU**2 * x.T @ np.linalg.solve(TAU**2 * x @ x.T + SIGMA**2 * np.eye(i), y)
            want[b, i] = w @ xs[b, i]
    np.testing.assert_allclose(_np(got["ridge"]), want, atol=1e-9)
    np.testing.assert_allclose(_np(got["mixture_bayes"]), p * disc + (1 - p) * want, atol=1e-9)
    for wrong in (SIGMA**2 / TAU, SIGMA / TAU):
        assert np.abs(_np(bl.ridge(prompts.xs, prompts.ys, wrong)) - want).max() > 1e-3


def test_family_posterior_at_prior_0_and_1(prompts, fam):
    """A prior of 0 or 1 on the discrete family is certain whatever the data: the posterior stays there."""
    for alpha in (0.0, 1.0):
        p = bl.posterior_discrete(prompts.xs, prompts.ys, fam.discrete, SIGMA, TAU, alpha)
        assert p.shape == prompts.ys.shape and p.dtype == torch.float64
        assert torch.all(p == alpha)


# -- edges the eighth mutation pass found unpinned -----------------------------------------------------
def test_least_squares_and_ridge_at_lambda_0_match_numpy_on_underdetermined_prefixes():
    """Prefixes with fewer examples than dimensions are exactly rank-deficient; the Gram matrix's zero
    eigenvalues come out of float64 at rounding level (~1e-16) and must be cut, or a prediction can be off
    by tens. Against numpy's minimum-norm lstsq on X itself (SVD of X, not of X^T X), 400 prompts of
    d = 3; ridge with lambda 0 (or below) is the same least squares."""
    g = torch.Generator().manual_seed(11)
    xs, ys = torch.randn(400, 4, 3, generator=g, dtype=torch.float64), torch.randn(400, 4, generator=g, dtype=torch.float64)
    x, y = _np(xs), _np(ys)
    want = np.zeros(y.shape)
    for b in range(len(x)):
        for i in range(1, 4):
            want[b, i] = np.linalg.lstsq(x[b, :i], y[b, :i], rcond=None)[0] @ x[b, i]
    for got in (bl.least_squares(xs, ys), bl.ridge(xs, ys, 0.0), bl.ridge(xs, ys, -1.0)):
        np.testing.assert_allclose(_np(got), want, atol=1e-7)


def test_log_evidence_of_each_family_matches_scipy(prompts, fam):
    """log p(prefix | family), not only its difference between families: the continuous family's
    y ~ N(0, sigma^2 I + tau^2 X X^T) and the discrete family's uniform mixture over its N vectors,
    by scipy, prompt by prompt (0 for the empty prefix)."""
    log_disc, log_cont = (_np(t) for t in bl._log_evidence(prompts.xs, prompts.ys, fam.discrete, SIGMA, TAU))
    xs, ys, vecs = _np(prompts.xs), _np(prompts.ys), _np(fam.discrete)
    assert np.all(log_disc[:, 0] == 0) and np.all(log_cont[:, 0] == 0)
    for b in range(len(xs)):
        for i in range(1, K + 1):
            x, y = xs[b, :i], ys[b, :i]
            want_cont = stats.multivariate_normal.logpdf(y, np.zeros(i), SIGMA**2 * np.eye(i) + TAU**2 * x @ x.T)
            want_disc = np.logaddexp.reduce([stats.norm.logpdf(y, x @ v, SIGMA).sum() for v in vecs]) - math.log(N)
            assert log_cont[b, i] == pytest.approx(want_cont, abs=1e-9)
            assert log_disc[b, i] == pytest.approx(want_disc, abs=1e-9)


def test_every_baseline_predicts_in_float64(fam):
    """The module's promise: predictions [B, n] in float64, whatever the inputs' dtype."""
    p = sample_prompts(fam, 3, 4, 0.5, generator(2, EVAL_STREAM, 0))
    xs, ys = p.xs.float(), p.ys.float()
    for name, pred in bl.all_baselines(xs, ys, fam.discrete.float(), SIGMA, TAU, ALPHA).items():
        assert pred.dtype == torch.float64 and pred.shape == (3, 4), name
    assert torch.all(bl.zero(xs, ys) == 0)
