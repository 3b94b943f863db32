"""This CPU, as far as the numbers depend on it: its model name and the instruction-set flags that
decide how (and how fast) matmuls run, and how many of its cores this process may use. Read from
/proc/cpuinfo and the cgroup files; no torch import (a run's manifest records it before any model is
loaded)."""

from __future__ import annotations

import functools
import math
import os
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


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPU cores this process may use: those it is pinned to, fewer where a container's CPU quota
    allows fewer (cgroup v2 `cpu.max`, v1 `cpu/cpu.cfs_quota_us` over `cpu.cfs_period_us`; rounded
    up). `os.cpu_count()` counts the host's: seed workers and the threads of a shared base sized by it
    would crowd a 2-CPU container on a large host. At least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _cpu_quota(cgroup)
    return max(1, min(cores, math.ceil(quota)) if quota else cores)


def _cpu_quota(cgroup: Path) -> float | None:
    """CPUs' worth of time a period that the cgroup allows; None where unlimited or unreadable."""
    try:
        limit, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        pass
    try:
        limit, period = (int((cgroup / "cpu" / f"cpu.cfs_{k}_us").read_text()) for k in ("quota", "period"))
        return limit / period if limit > 0 and period > 0 else None
    except (OSError, ValueError):
        return None
