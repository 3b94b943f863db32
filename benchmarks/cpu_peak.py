"""The single-core fp32 matmul peak this CPU reaches on the demo model's shapes, for comparing the
training loop's achieved GFLOP/s with (benchmarks/throughput.py measures the loop).

    python benchmarks/cpu_peak.py [--threads 1] [--rounds 50]

Shapes: a restoration batch (16 × 64 = 1,024 tokens) through the demo model's projections (width 96,
MLP 384, vocabulary ≈ 780) and a 1,024³ square; the best single `a @ b` of `--rounds` interleaved
rounds on one thread, fp32 and bf16, so a loaded machine shows its best rather than its average.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from forgetscope.precision import best_seconds

SHAPES = {  # (tokens, in, out)
    "attention/out projection 1024×96×96": (1024, 96, 96),
    "MLP up 1024×96×384": (1024, 96, 384),
    "MLP down 1024×384×96": (1024, 384, 96),
    "output layer 1024×96×780": (1024, 96, 780),
    "square 1024³": (1024, 1024, 1024),
}


def gflops(m: int, k: int, n: int, rounds: int) -> dict[str, float]:
    """fp32 and bf16 `a @ b` of one shape, timed in interleaved rounds by the timer `auto`'s bf16
    decision uses (forgetscope.precision.best_seconds): the best of each, in GFLOP/s."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    a16, b16 = a.bfloat16(), b.bfloat16()
    for _ in range(3):
        a @ b, a16 @ b16
    best = best_seconds({"fp32": lambda: a @ b, "bf16": lambda: a16 @ b16}, rounds=rounds, budget_s=float("inf"))
    return {kind: 2 * m * k * n / t / 1e9 for kind, t in best.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=50)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} thread(s); GFLOP/s, best of {a.rounds} interleaved rounds\n")
    print("| shape | fp32 | bf16 |\n|---|---|---|")
    for name, shape in SHAPES.items():
        g = gflops(*shape, a.rounds)
        print(f"| {name} | {g['fp32']:.1f} | {g['bf16']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
