"""Mixed precision (bf16 autocast, fp32 master weights) where the hardware runs bf16 fast.

`auto` (the default of training and scoring) resolves to bf16 when both hold:
- the model has at least `AUTO_MIN_PARAMETERS` parameters: real language models. The synthetic
  worlds' tiny models stay fp32 (their numbers are documented in fp32; a step of theirs is not
  matmul-bound), and nothing is measured for them;
- the device runs bf16 matmuls fast: a CUDA GPU that supports bf16, or a CPU on which a short
  measured matmul comparison (`measure_bf16_speedup`, cached per machine) shows bf16 autocast at
  least `BF16_MIN_SPEEDUP` times faster than fp32. One flag does not tell: CPUs with AVX512-BF16 or
  AMX-BF16 ran bf16 matmuls 3-7x faster than fp32, a CPU without bf16 instructions emulates them and
  ran them 25x slower (docs/real-models.md), and which kernels torch uses depends on its version.
`no` is fp32, `bf16` forces autocast to bf16 (whatever the hardware), `fp16` (training, through
accelerate, on a GPU) as before. Weights stay in the dtype they were loaded in; autocast runs the
matmuls in bf16 and keeps reductions (softmax, norms, the loss) in fp32. How much the numbers move:
docs/real-models.md.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from forgetscope.execution import torch_threads
from forgetscope.hardware import cpu_summary, cpuinfo

AUTO_MIN_PARAMETERS = 20_000_000
# bf16 only when its matmuls are clearly faster: autocast speeds up the matmuls alone (the casts of
# fp32 weights, softmax, norms and the loss cost the same or more), and a measurement on a busy
# machine moves by tens of percent. Hardware with bf16 instructions measured 3-7x, emulation 0.04x:
# 1.5 sits in that gap, so neither kind of CPU is decided by noise.
BF16_MIN_SPEEDUP = 1.5
# A matmul of a real model's size (SmolLM2-135M's MLP is 576 x 1536): ~1 GFLOP, a few ms in fp32.
MEASURE_SHAPE = (1024, 1024, 512)


def bf16_pays(speedup: float) -> bool:
    """The decision: bf16 when its measured matmul speed-up over fp32 clears `BF16_MIN_SPEEDUP`."""
    return math.isfinite(speedup) and speedup >= BF16_MIN_SPEEDUP


def best_seconds(fns: dict[str, Callable[[], object]], rounds: int = 8, budget_s: float = 0.3,
                 clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """The shortest time of each of `fns` over up to `rounds` rounds that call each once in turn
    (interleaved, so a burst of load elsewhere slows both alike); stops after the round in which
    `budget_s` is spent, so a slow (emulated) kind costs one call."""
    best = dict.fromkeys(fns, math.inf)
    spent = 0.0
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = clock()
            fn()
            t = clock() - t0
            best[name], spent = min(best[name], t), spent + t
        if spent >= budget_s:
            break
    return best


def measure_bf16_speedup(shape: tuple[int, int, int] = MEASURE_SHAPE) -> dict:
    """fp32 matmul time / the same matmul's time under bf16 autocast (casts included), best of a few
    interleaved rounds on one thread: the ratio is per core, and one thread is not stalled by a
    process on another core as a multi-threaded matmul is (2 threads on a busy 2-core machine
    measured 0.6-15x, one thread 3.4-3.9x). ~0.1 s where bf16 is fast; ~0.6 s once where emulated."""
    m, k, n = shape
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)

    def bf16() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.mm(a, b)

    with torch_threads(1), torch.inference_mode():
        best = best_seconds({"fp32": lambda: torch.mm(a, b), "bf16": bf16})
    return {"shape": list(shape), "threads": 1, "fp32_s": best["fp32"], "bf16_s": best["bf16"], "speedup": best["fp32"] / best["bf16"]}


def speed_cache_path() -> Path:
    """`<forgetscope cache>/bf16-speed/<key>.json`, keyed by CPU model, flags and torch's version:
    another host, CPU or torch measures again."""
    from forgetscope.cache import cache_root

    name, flags = cpuinfo()
    ident = json.dumps([name, sorted(flags), platform.machine(), torch.__version__])
    return cache_root() / "bf16-speed" / f"{hashlib.sha256(ident.encode()).hexdigest()[:16]}.json"


@functools.cache
def cpu_bf16_speedup() -> float:
    """This CPU's measured bf16 speed-up, from the cache when it holds a readable record (once per
    process); a missing or damaged record is measured again and rewritten (atomically). A read-only
    cache costs the measurement, not correctness."""
    from forgetscope.store import atomic_write_json

    path = speed_cache_path()
    try:
        speedup = json.loads(path.read_text(encoding="utf-8"))["speedup"]
        if isinstance(speedup, float) and math.isfinite(speedup) and speedup > 0:
            return speedup
    except (OSError, ValueError, KeyError, TypeError):
        pass
    record = measure_bf16_speedup()
    try:
        atomic_write_json(path, {"cpu": cpu_summary(), "torch": torch.__version__, **record})
    except OSError:
        pass
    return record["speedup"]


def device_runs_bf16_fast(device: torch.device | str) -> bool:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bf16_pays(cpu_bf16_speedup())


def resolve(mode: str, device: torch.device | str, model: torch.nn.Module | None = None) -> str:
    """`auto` -> `bf16` or `no` by the rule above (the size first: a tiny model measures nothing);
    any other mode is returned as it is."""
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
