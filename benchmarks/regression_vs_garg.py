"""The regression study's training step against Garg et al.'s (`dtsip/in-context-learning`, the model
Kotha et al. built on), same configuration, alternating rounds in one process; prints the ratio.

    python benchmarks/regression_vs_garg.py --peer /path/to/in-context-learning
    python benchmarks/regression_vs_garg.py --peer PATH --steps 100 --rounds 6 --threads 2

`--peer` is a checkout (or snapshot) of the peer's repository, supplied by you: its modules
(`src/models.py`, `samplers.py`, `tasks.py`, `train.py`) are imported from there, never copied into
this repository. Modules the peer imports only for things not timed here (xgboost for a baseline,
wandb / quinine / funcy / munch for logging and its config schema) are replaced by empty stand-ins when
they are not installed; the model, the samplers and `train_step` run as the peer wrote them.

Both sides, per step: draw a fresh batch of prompts (x ~ N(0, I_d), y = <w, x> (+ noise on ours)),
forward, the loss over every prefix, backward, optimizer step, and the loss read back as a float.
* forgetscope: `forgetscope.training.train(..., local=True, loss_fn=prefix_mse_sum)` with
  `RegressionBatches`, the study's own model (`studies/regression/model.py`), AdamW, gradient clipping
  and the LR schedule, exactly the path the study's stages use.
* Garg et al.: the body of their `train()` loop without logging or saving: `sample_xs`, a task from
  `get_task_sampler("linear_regression", ...)`, `task.evaluate`, and their `train_step` (Adam) on
  their `TransformerModel` (a transformers `GPT2Model` backbone).
Configuration (the default): d 8, 32 points (64 tokens), 4 layers x width 128, 4 heads, MLP 4 x width,
batch 64, no curriculum, 2 torch threads. Rounds alternate (ours, peer, ours, ...), each on a freshly
built model after one untimed warm-up round per side; the ratio is taken per round pair and its
median is printed with the range.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
import types
from pathlib import Path

import torch

from forgetscope.studies.regression.data import PRETRAIN_STREAM, RegressionBatches, TaskFamilies, prefix_mse_sum
from forgetscope.studies.regression.config import RegressionModelConfig
from forgetscope.studies.regression.model import build_model
from forgetscope.training import TrainConfig, train


def _stand_in(name: str) -> types.ModuleType:
    mod = types.ModuleType(name)

    def anything(attr: str):  # any public name: a callable that returns None
        if attr.startswith("__"):
            raise AttributeError(attr)
        return lambda *a, **k: None

    mod.__getattr__ = anything
    return mod


def import_peer(path: Path):
    """The peer's `models`, `samplers`, `tasks` and `train` modules, from `path` (its repo or src/)."""
    src = path / "src" if (path / "src" / "models.py").exists() else path
    if not (src / "models.py").exists():
        raise SystemExit(f"error: no models.py under {path} (give the peer's repository folder)")
    import transformers.models.gpt2.modeling_gpt2  # noqa: F401  (loaded before any stand-in exists)

    for name in ("xgboost", "wandb", "quinine", "funcy", "munch"):
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = _stand_in(name)
    sys.path.insert(0, str(src))
    try:
        return tuple(importlib.import_module(m) for m in ("models", "samplers", "tasks", "train"))
    finally:
        sys.path.remove(str(src))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer", type=Path, required=True, help="the peer's repository (dtsip/in-context-learning)")
    ap.add_argument("--steps", type=int, default=100, help="timed steps per round")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--d", type=int, default=8)
    ap.add_argument("--points", type=int, default=32)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--profile", action="store_true", help="print torch.profiler's table of one round per side, then stop")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models, samplers, tasks, peer_train = import_peer(args.peer.resolve())

    # forgetscope: the study's model, sampler and training call.
    fam = TaskFamilies.from_seed(args.d, 8, 0.5, 1.0, 0)
    mcfg = RegressionModelConfig(layers=args.layers, width=args.width, heads=args.heads, mlp_ratio=4)
    tcfg = TrainConfig(steps=args.steps, batch_size=args.batch, lr=1e-4, betas=(0.9, 0.999))

    def ours(seed: int) -> float:
        model = build_model(mcfg, args.d, args.points, seed)
        batches = RegressionBatches(fam, args.points, 0.5, seed, PRETRAIN_STREAM)
        t0, c0 = time.perf_counter(), time.process_time()
        train(model, batches, tcfg, seed=seed, loss_fn=prefix_mse_sum, local=True, device="cpu")
        return time.perf_counter() - t0, time.process_time() - c0

    # Garg et al.: their model, samplers and train_step.
    def peer(seed: int) -> float:
        torch.manual_seed(seed)
        model = models.TransformerModel(n_dims=args.d, n_positions=args.points, n_embd=args.width,
                                        n_layer=args.layers, n_head=args.heads)
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        data_sampler = samplers.get_data_sampler("gaussian", n_dims=args.d)
        task_sampler = tasks.get_task_sampler("linear_regression", args.d, args.batch)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            xs = data_sampler.sample_xs(args.points, args.batch)
            task = task_sampler()
            ys = task.evaluate(xs)
            peer_train.train_step(model, xs, ys, opt, task.get_training_metric())
        return time.perf_counter() - t0, time.process_time() - c0

    n_ours = sum(p.numel() for p in build_model(mcfg, args.d, args.points, 0).parameters())
    pm = models.TransformerModel(n_dims=args.d, n_positions=args.points, n_embd=args.width, n_layer=args.layers, n_head=args.heads)
    n_peer = sum(p.numel() for n, p in pm.named_parameters() if "wte" not in n)
    print(f"d {args.d}, {args.points} points ({2 * args.points} tokens), {args.layers} layers x {args.width}, {args.heads} heads, "
          f"batch {args.batch}, {args.threads} threads, {args.steps} steps x {args.rounds} rounds; torch {torch.__version__}")
    print(f"parameters: forgetscope {n_ours:,}; Garg et al. {n_peer:,} (without GPT-2's unused token-embedding table)")
    ours(1000), peer(1000)  # warm-up, untimed
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        for name, run in (("forgetscope", ours), ("Garg et al.", peer)):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                run(0)
            print(f"\n{name}: {args.steps} steps\n" + prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15,
                                                                              max_name_column_width=40))
        return
    sides = {"forgetscope": ours, "Garg et al.": peer}
    wall: dict[str, list[float]] = {k: [] for k in sides}  # steps per wall-clock second
    cpu: dict[str, list[float]] = {k: [] for k in sides}  # CPU seconds of this process per step
    for r in range(args.rounds):
        for name, run in sides.items():
            w, c = run(r)
            wall[name].append(args.steps / w)
            cpu[name].append(c / args.steps)
        print(f"round {r + 1}: " + ", ".join(f"{k} {wall[k][-1]:.2f} steps/s ({1e3 * cpu[k][-1]:.0f} CPU-ms/step)" for k in sides),
              flush=True)
    for name in sides:
        w, c = wall[name], cpu[name]
        print(f"{name:<12} steps/s: median {statistics.median(w):.2f} (range {min(w):.2f}-{max(w):.2f}); "
              f"CPU-ms per step: median {1e3 * statistics.median(c):.0f}")
    ratios = [a / b for a, b in zip(wall["forgetscope"], wall["Garg et al."])]
    cpu_ratios = [b / a for a, b in zip(cpu["forgetscope"], cpu["Garg et al."])]
    print(f"ratio forgetscope / Garg et al., steps per wall-clock second (per round pair): median {statistics.median(ratios):.2f}x "
          f"(range {min(ratios):.2f}-{max(ratios):.2f}x)")
    print(f"ratio in CPU time per step (Garg / forgetscope): median {statistics.median(cpu_ratios):.2f}x "
          f"(range {min(cpu_ratios):.2f}-{max(cpu_ratios):.2f}x)")

if __name__ == "__main__":
    main()
