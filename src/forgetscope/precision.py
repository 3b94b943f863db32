"""Mixed precision (bf16 autocast, fp32 master weights) where the hardware runs bf16 fast.

`auto` (the default of training and scoring) resolves to bf16 when both hold:
- the device has bf16 matrix units: a CUDA GPU that supports bf16, or a CPU with AMX-BF16 (Intel
  Sapphire Rapids and later). CPUs without them (AVX2, or AVX-512 without AMX) emulate bf16 matmuls
  and run them slower than fp32 (benchmarks/README.md), so they stay fp32;
- the model has at least `AUTO_MIN_PARAMETERS` parameters: real language models. The synthetic
  worlds' tiny models stay fp32 (their numbers are documented in fp32; a step of theirs is not
  matmul-bound).
`no` is fp32, `bf16` forces autocast to bf16 (whatever the hardware), `fp16` (training, through
accelerate, on a GPU) as before. Weights stay in the dtype they were loaded in; autocast runs the
matmuls in bf16 and keeps reductions (softmax, norms, the loss) in fp32. How much the numbers move:
docs/real-models.md.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Literal

import torch

Precision = Literal["auto", "no", "bf16"]
AUTO_MIN_PARAMETERS = 20_000_000


@functools.cache
def cpu_has_amx_bf16() -> bool:
    """Whether this CPU reports AMX-BF16 (Linux: the `amx_bf16` flag in /proc/cpuinfo)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return "amx_bf16" in line.split()
    except OSError:
        pass
    return False


def device_runs_bf16_fast(device: torch.device | str) -> bool:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_amx_bf16()


def resolve(mode: str, device: torch.device | str, model: torch.nn.Module | None = None) -> str:
    """`auto` -> `bf16` or `no` by the rule above; any other mode is returned as it is."""
    if mode != "auto":
        return mode
    n = sum(p.numel() for p in model.parameters()) if model is not None else 0
    return "bf16" if n >= AUTO_MIN_PARAMETERS and device_runs_bf16_fast(device) else "no"


def autocast(mode: str, device: torch.device | str):
    """The autocast context of a resolved mode (`bf16`), or a no-op."""
    device = torch.device(device)
    if mode == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# Scoring's setting for this process: the studies set it from their config (eval.mixed_precision)
# before any scorer is built; a NativeScorer built without an explicit setting takes it.
_scoring: str = "auto"


def set_scoring(mode: str) -> None:
    global _scoring
    _scoring = mode


def scoring() -> str:
    return _scoring
