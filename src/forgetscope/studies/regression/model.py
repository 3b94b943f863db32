"""A GPT-2-style transformer over d-vectors: a linear read-in (no token-embedding table), learned
positions, pre-LayerNorm causal blocks, and a linear read-out of one number at every x position.
Saved as `config.json` + `model.safetensors`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from forgetscope.models.checks import check_finite_weights
from forgetscope.store import atomic_dir
from forgetscope.studies.regression.config import RegressionModelConfig


class Block(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.fc, self.out = nn.Linear(width, mlp_ratio * width), nn.Linear(mlp_ratio * width, width)

    def forward(self, h: torch.Tensor, x_only: bool = False) -> torch.Tensor:
        """`x_only`: return only the x positions (0, 2, 4, ...): their attention reads every earlier
        position, but the projection and MLP run on them alone (the last block: nothing reads y
        positions after it)."""
        b, t, w = h.shape
        q, k, v = self.qkv(self.ln1(h)).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2)
        if x_only:
            h, a = h[:, ::2], a[:, ::2]
        h = h + self.proj(a.reshape(b, h.shape[1], w))
        return h + self.out(F.gelu(self.fc(self.ln2(h)), approximate="tanh"))


class RegressionTransformer(nn.Module):
    """inputs [B, 2n, d] (x and padded y tokens interleaved) -> predictions of y [B, n]."""

    def __init__(self, cfg: RegressionModelConfig, d: int, n_points: int):
        super().__init__()
        self.cfg, self.d, self.n_points = cfg, d, n_points
        self.read_in = nn.Linear(d, cfg.width)
        self.positions = nn.Parameter(torch.zeros(2 * n_points, cfg.width))
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(cfg.width)
        self.read_out = nn.Linear(cfg.width, 1)

    def init_weights(self, seed: int) -> RegressionTransformer:
        """GPT-2's initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 * layers)."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
                elif p.dim() == 1:  # LayerNorm gains
                    p.fill_(1.0)
                else:
                    std = 0.02 / math.sqrt(2 * self.cfg.layers) if name.endswith(("proj.weight", "out.weight")) else 0.02
                    p.copy_(torch.randn(p.shape, generator=g) * std)
        return self

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        # Only the x positions are read out. The last y token is read by no x position (attention is
        # causal), so it is left out; the last block runs its projection and MLP on x positions only.
        # Both skip work whose result was never used: the predictions are the same function.
        if inputs.shape[1] % 2 == 0:
            inputs = inputs[:, :-1]
        h = self.read_in(inputs) + self.positions[: inputs.shape[1]]
        for i, block in enumerate(self.blocks):
            h = block(h, x_only=i == len(self.blocks) - 1)
        return self.read_out(self.ln_f(h)).squeeze(-1)


def build_model(cfg: RegressionModelConfig, d: int, n_points: int, seed: int) -> RegressionTransformer:
    return RegressionTransformer(cfg, d, n_points).init_weights(seed)


def save_model(model: RegressionTransformer, folder: Path, *, replace: bool = False) -> None:
    with atomic_dir(Path(folder), replace=replace) as tmp:
        meta = {"model": model.cfg.model_dump(), "d": model.d, "n_points": model.n_points}
        (tmp / "config.json").write_text(json.dumps(meta, indent=2))
        save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))


def load_model(folder: Path, device: torch.device | str = "cpu") -> RegressionTransformer:
    meta = json.loads((Path(folder) / "config.json").read_text())
    model = RegressionTransformer(RegressionModelConfig(**meta["model"]), meta["d"], meta["n_points"])
    model.load_state_dict(load_file(str(Path(folder) / "model.safetensors")))
    check_finite_weights(model, folder)
    return model.to(device).eval()
