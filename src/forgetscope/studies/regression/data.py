"""The task families and the prompts of in-context linear regression (Garg et al.; Kotha et al.).

A prompt is n = k_max + 1 points (x_i, y_i) with x ~ N(0, I_d) and y = <w, x> + eps, eps ~ N(0, sigma^2).
The model predicts every y_i from the i earlier pairs and x_i, so one prompt holds every k from 0 to
k_max. Two task families draw w: continuous, w ~ N(0, tau^2 I_d); discrete, w uniform over N fixed
vectors drawn once per seed from the same Gaussian. Everything is a function of (seed, stream, step):
training batches are fresh samples every step, and the same on every rerun and every process split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

# Random streams: independent draws for the discrete set, pre-training, fine-tuning and evaluation.
DISCRETE_STREAM, PRETRAIN_STREAM, FINETUNE_STREAM, EVAL_STREAM = 0, 1, 2, 3
FAMILIES = {"discrete": 1.0, "continuous": 0.0}  # evaluation families -> probability that a prompt is discrete


def generator(seed: int, stream: int, step: int = 0) -> torch.Generator:
    """A torch generator determined by (seed, stream, step) alone."""
    state = np.random.SeedSequence([seed & 0xFFFFFFFF, stream, step]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


@dataclass(frozen=True)
class TaskFamilies:
    """What generates a prompt: dimensions, noise, prior scale, and the discrete set [N, d]."""

    d: int
    sigma: float
    tau: float
    discrete: torch.Tensor

    @classmethod
    def from_seed(cls, d: int, n_discrete: int, sigma: float, tau: float, seed: int) -> TaskFamilies:
        vectors = tau * torch.randn(n_discrete, d, generator=generator(seed, DISCRETE_STREAM), dtype=torch.float64)
        return cls(d, sigma, tau, vectors.float())


@dataclass
class Prompts:
    xs: torch.Tensor  # [B, n, d]
    ys: torch.Tensor  # [B, n]
    w: torch.Tensor  # [B, d]
    discrete_index: torch.Tensor  # [B]: which discrete vector, -1 for a continuous prompt

    def __len__(self) -> int:
        return self.xs.shape[0]

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"xs": self.xs, "ys": self.ys, "w": self.w, "discrete_index": self.discrete_index}


def sample_prompts(fam: TaskFamilies, batch: int, n_points: int, p_discrete: float, gen: torch.Generator,
                   active_dims: int | None = None) -> Prompts:
    """`batch` prompts; each is discrete with probability `p_discrete`. With `active_dims`, the other
    coordinates of x are zero (the curriculum of Garg et al.)."""
    is_disc = torch.rand(batch, generator=gen) < p_discrete
    idx = torch.randint(len(fam.discrete), (batch,), generator=gen)
    w_cont = fam.tau * torch.randn(batch, fam.d, generator=gen)
    w = torch.where(is_disc[:, None], fam.discrete[idx], w_cont)
    xs = torch.randn(batch, n_points, fam.d, generator=gen)
    if active_dims is not None and active_dims < fam.d:
        xs[:, :, active_dims:] = 0
    ys = torch.einsum("bnd,bd->bn", xs, w) + fam.sigma * torch.randn(batch, n_points, generator=gen)
    return Prompts(xs, ys, w, torch.where(is_disc, idx, torch.full_like(idx, -1)))


def interleave(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Model inputs [B, 2n, d]: x_1, (y_1, 0, ..., 0), x_2, (y_2, 0, ...), ... (Garg et al.)."""
    b, n, d = xs.shape
    y_tok = torch.zeros_like(xs)
    y_tok[:, :, 0] = ys
    return torch.stack([xs, y_tok], dim=2).reshape(b, 2 * n, d)


class RegressionBatches:
    """Fresh prompts every step for `forgetscope.training.train`: the global batch of step t is drawn
    from (seed, stream, t), so it is the same whether one process takes it or several split it."""

    def __init__(self, fam: TaskFamilies, n_points: int, p_discrete: float, seed: int, stream: int,
                 active_dims=None):
        self.fam, self.n_points, self.p_discrete = fam, n_points, p_discrete
        self.seed, self.stream = seed, stream
        self.active_dims = active_dims or (lambda step: None)  # step -> active dimensions (curriculum)
        self.batch_size = 0
        self._cached: tuple[int, dict[str, torch.Tensor]] | None = None

    def global_indices(self, step: int, batch_size: int) -> list[int]:
        self.batch_size = batch_size
        return list(range(step * batch_size, (step + 1) * batch_size))

    def step_batch(self, step: int) -> dict[str, torch.Tensor]:
        if self._cached is None or self._cached[0] != step:
            p = sample_prompts(self.fam, self.batch_size, self.n_points, self.p_discrete,
                               generator(self.seed, self.stream, step), self.active_dims(step))
            self._cached = (step, {"inputs": interleave(p.xs, p.ys), "targets": p.ys})
        return self._cached[1]

    def collate(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        step = indices[0] // self.batch_size
        if len(indices) == self.batch_size and indices[-1] - indices[0] == self.batch_size - 1:
            return self.step_batch(step)  # the whole step's batch (one process, no accumulation): no copy
        rows = torch.tensor([i - step * self.batch_size for i in indices])
        return {k: v[rows] for k, v in self.step_batch(step).items()}

    def label_tokens(self, indices: Sequence[int]) -> int:
        """Terms of the loss: every prefix of every prompt (k = 0 .. k_max)."""
        return len(indices) * self.n_points


def prefix_mse_sum(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Squared error summed over every prefix of every prompt, and how many terms that is."""
    pred = model(batch["inputs"])
    return ((pred - batch["targets"]) ** 2).sum(), batch["targets"].numel()
