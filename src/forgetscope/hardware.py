"""This CPU, as far as the numbers depend on it: its model name and the instruction-set flags that
decide how (and how fast) matmuls run. Read from /proc/cpuinfo; no torch import (a run's manifest
records it before any model is loaded)."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# The flags that pick torch's matmul kernels on x86: AVX2, AVX-512, and bf16 instructions (AVX512-BF16,
# AMX); on ARM, `bf16` in the Features line.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "bf16")


@functools.cache
def cpuinfo() -> tuple[str, tuple[str, ...]]:
    """(model name, flags) of this CPU: /proc/cpuinfo on Linux (`flags`, or `Features` on ARM),
    else platform's processor name and no flags."""
    name, flags = "", ()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and not name:
                name = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = tuple(value.split())
    except OSError:
        pass
    return name or platform.processor() or platform.machine(), flags


def cpu_summary() -> dict:
    """This CPU's model name and which of `SPEED_FLAGS` it has (what a run's manifest records)."""
    name, flags = cpuinfo()
    return {"model": name, "flags": [f for f in SPEED_FLAGS if f in flags]}
