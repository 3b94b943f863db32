"""The single-core fp32 matmul peak this CPU reaches on the demo model's shapes, for comparing the
training loop's achieved GFLOP/s with (benchmarks/throughput.py measures the loop).

    python benchmarks/cpu_peak.py [--threads 1] [--rounds 7]

Shapes: a restoration batch (16 × 64 = 1,024 tokens) through the demo model's projections (width 96,
MLP 384, vocabulary ≈ 780) and a 1,024³ square; best of `--rounds` rounds (each ≥ 0.2 s) of
`a @ b` on one thread, fp32 and bf16, so a loaded machine shows its best rather than its average.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

SHAPES = {  # (tokens, in, out)
    "attention/out projection 1024×96×96": (1024, 96, 96),
    "MLP up 1024×96×384": (1024, 96, 384),
    "MLP down 1024×384×96": (1024, 384, 96),
    "output layer 1024×96×780": (1024, 96, 780),
    "square 1024³": (1024, 1024, 1024),
}


def best_gflops(m: int, k: int, n: int, dtype: torch.dtype, rounds: int) -> float:
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    for _ in range(3):
        a @ b
    flops, best = 2 * m * k * n, float("inf")
    for _ in range(rounds):
        reps, t0 = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < 0.2:
            a @ b
            reps += 1
        best = min(best, elapsed / reps)
    return flops / best / 1e9


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} thread(s); GFLOP/s, best of {a.rounds}\n")
    print("| shape | fp32 | bf16 |\n|---|---|---|")
    for name, shape in SHAPES.items():
        f32 = best_gflops(*shape, torch.float32, a.rounds)
        bf16 = best_gflops(*shape, torch.bfloat16, a.rounds)
        print(f"| {name} | {f32:.1f} | {bf16:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
