"""Exact predictors for every prefix of a batch of prompts, in closed form (float64).

Every function takes xs [B, n, d] and ys [B, n] and returns predictions [B, n]: entry i predicts
y_i from the first i pairs (k = i examples) and x_i.

    ridge(lam)        posterior mean under w ~ N(0, tau^2 I): Bayes for the continuous family when
                      lam = sigma^2 / tau^2
    least_squares     minimum-norm least squares (lam -> 0)
    zero              predicts 0 (the prior mean of y)
    discrete_bayes    posterior-weighted average of the N discrete vectors, Gaussian residual
                      likelihood with variance sigma^2: Bayes for the discrete family
    mixture_bayes     Bayes for the pre-training mixture: the two above, weighted by the posterior
                      probability of each family (prior alpha on the discrete one)

`mixture_parts` splits mixture_bayes into what does not depend on alpha, so that the ideal model can be
evaluated at many priors cheaply: mixture_bayes at a prior moved toward the discrete family is the
ideal fine-tuned model of Kotha et al. (fine-tuning as a shift of the family prior; see
analysis.regression.ideal_closeness).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch


def _prefix_stats(xs: torch.Tensor, ys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each i, sums over the first i pairs: X^T X [B, n, d, d], X^T y [B, n, d], y^T y [B, n]."""
    xs, ys = xs.double(), ys.double()
    outer = torch.einsum("bni,bnj->bnij", xs, xs)
    xy = xs * ys[..., None]
    def excl(t):
        return torch.cumsum(t, dim=1) - t
    return excl(outer), excl(xy), excl(ys**2)


def ridge_weights(xs: torch.Tensor, ys: torch.Tensor, lam: float) -> torch.Tensor:
    """The ridge estimate of w from each prefix: [B, n, d] (zero for the empty prefix)."""
    a, b, _ = _prefix_stats(xs, ys)
    eye = torch.eye(xs.shape[-1], dtype=torch.float64)
    return torch.linalg.solve(a + lam * eye, b.unsqueeze(-1)).squeeze(-1)


def ridge(xs: torch.Tensor, ys: torch.Tensor, lam: float) -> torch.Tensor:
    if lam <= 0:
        return least_squares(xs, ys)
    return (ridge_weights(xs, ys, lam) * xs.double()).sum(-1)


def least_squares(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Minimum-norm least squares: w = (X^T X)^+ X^T y = X^+ y (underdetermined prefixes included)."""
    a, b, _ = _prefix_stats(xs, ys)
    w = (torch.linalg.pinv(a, hermitian=True, rtol=1e-10) @ b.unsqueeze(-1)).squeeze(-1)
    return (w * xs.double()).sum(-1)


def zero(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    return torch.zeros(ys.shape, dtype=torch.float64)


def _discrete_log_weights(xs, ys, discrete: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per prefix and discrete vector j: log p(prefix | w_j) up to a constant shared by all j [B, n, N],
    and <w_j, x_i> [B, n, N]."""
    preds = xs.double() @ discrete.double().T
    sq = (ys.double()[..., None] - preds) ** 2
    before = torch.cumsum(sq, dim=1) - sq
    return -before / (2 * sigma**2), preds


def discrete_bayes(xs: torch.Tensor, ys: torch.Tensor, discrete: torch.Tensor, sigma: float) -> torch.Tensor:
    logw, preds = _discrete_log_weights(xs, ys, discrete, sigma)
    return (torch.softmax(logw, dim=-1) * preds).sum(-1)


def _log_evidence(xs, ys, discrete: torch.Tensor, sigma: float, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(prefix | family) for the discrete and the continuous family, [B, n] each."""
    a, b, c = _prefix_stats(xs, ys)
    k = torch.arange(xs.shape[1], dtype=torch.float64)
    gauss = -0.5 * k * math.log(2 * math.pi * sigma**2)
    logw, _ = _discrete_log_weights(xs, ys, discrete, sigma)
    log_disc = torch.logsumexp(logw, dim=-1) - math.log(len(discrete)) + gauss
    # y ~ N(0, sigma^2 I + tau^2 X X^T): the d x d form by Woodbury and the determinant lemma.
    lam = sigma**2 / tau**2
    d = xs.shape[-1]
    eye = torch.eye(d, dtype=torch.float64)
    m = a + lam * eye
    quad = (c - (b * torch.linalg.solve(m, b.unsqueeze(-1)).squeeze(-1)).sum(-1)) / sigma**2
    logdet = torch.linalg.slogdet(m / lam)[1]
    log_cont = gauss - 0.5 * quad - 0.5 * logdet
    return log_disc, log_cont


def posterior_discrete(xs, ys, discrete: torch.Tensor, sigma: float, tau: float, alpha: float) -> torch.Tensor:
    """P(discrete family | prefix) under the prior alpha on the discrete family: [B, n]."""
    if alpha <= 0 or alpha >= 1:
        return torch.full(ys.shape, float(alpha >= 1), dtype=torch.float64)
    log_disc, log_cont = _log_evidence(xs, ys, discrete, sigma, tau)
    return torch.sigmoid(log_disc - log_cont + math.log(alpha / (1 - alpha)))


def mixture_bayes(xs, ys, discrete: torch.Tensor, sigma: float, tau: float, alpha: float) -> torch.Tensor:
    p = posterior_discrete(xs, ys, discrete, sigma, tau, alpha)
    return p * discrete_bayes(xs, ys, discrete, sigma) + (1 - p) * ridge(xs, ys, sigma**2 / tau**2)


class MixtureParts(NamedTuple):
    """mixture_bayes without its prior: log p(prefix | discrete) - log p(prefix | continuous), and the
    two families' Bayes predictions, [B, n] each."""

    log_bayes_factor: torch.Tensor
    discrete: torch.Tensor
    ridge: torch.Tensor

    def predict(self, alpha: float) -> torch.Tensor:
        """mixture_bayes at prior `alpha` on the discrete family (0 and 1 exactly: ridge, discrete Bayes)."""
        if alpha <= 0 or alpha >= 1:
            return (self.discrete if alpha >= 1 else self.ridge).clone()
        p = torch.sigmoid(self.log_bayes_factor + math.log(alpha / (1 - alpha)))
        return p * self.discrete + (1 - p) * self.ridge


def mixture_parts(xs, ys, discrete: torch.Tensor, sigma: float, tau: float) -> MixtureParts:
    log_disc, log_cont = _log_evidence(xs, ys, discrete, sigma, tau)
    return MixtureParts(log_disc - log_cont, discrete_bayes(xs, ys, discrete, sigma), ridge(xs, ys, sigma**2 / tau**2))


def data_share_alpha(alpha: float, pretrain_prompts: int, finetune_prompts: int) -> float:
    """The discrete family's share of every prompt seen in pre-training (a share alpha of them discrete)
    and fine-tuning (all discrete): the prior an ideal learner that counts its data would hold after
    fine-tuning."""
    return (alpha * pretrain_prompts + finetune_prompts) / (pretrain_prompts + finetune_prompts)


BASELINES = ("ridge", "discrete_bayes", "mixture_bayes", "least_squares", "zero")  # what all_baselines returns


def all_baselines(xs, ys, discrete: torch.Tensor, sigma: float, tau: float, alpha: float) -> dict[str, torch.Tensor]:
    """Every baseline's predictions [B, n], by name."""
    return {
        "ridge": ridge(xs, ys, sigma**2 / tau**2),
        "discrete_bayes": discrete_bayes(xs, ys, discrete, sigma),
        "mixture_bayes": mixture_bayes(xs, ys, discrete, sigma, tau, alpha),
        "least_squares": least_squares(xs, ys),
        "zero": zero(xs, ys),
    }


def nearest_discrete_distance(w: torch.Tensor, discrete: torch.Tensor) -> torch.Tensor:
    """Euclidean distance of each w [B, d] to the nearest discrete vector: [B]."""
    return torch.cdist(w.double(), discrete.double()).min(dim=-1).values
