"""Steps per second of forgetscope's training loop (`forgetscope.training.train`) against a minimal
plain PyTorch loop, on the regression study's model and sampler (the demo preset by default).

    python benchmarks/regression_loop.py                 # demo preset, 200 steps, 5 alternating rounds
    python benchmarks/regression_loop.py --steps 100 --rounds 3 --threads 1
    python benchmarks/regression_loop.py --config configs/regression-paper.yaml --device cuda --rounds 3

Both loops do the same work per step: draw the step's batch (fresh prompts), forward, loss summed
over every prefix / terms, backward, gradient clipping, AdamW, LR schedule. Rounds alternate between
the loops so that background load hits both alike; the best and the median round are reported, in
steps per CPU second of this process (what the loop costs, whatever else runs on the machine) and in
steps per wall-clock second.
Goal: train() at >= 0.95x the plain loop.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from forgetscope.config.loading import load_yaml, validate_config
from forgetscope.studies.regression.config import RegressionConfig
from forgetscope.studies.regression.data import PRETRAIN_STREAM, RegressionBatches, TaskFamilies, prefix_mse_sum
from forgetscope.studies.regression.model import build_model
from forgetscope.training import train
from forgetscope.training.loop import lr_lambda


def plain_loop(model, batches: RegressionBatches, cfg, steps: int, device: str) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    model.train()
    for step in range(steps):
        batches.batch_size = cfg.batch_size
        batch = {k: v.to(device) for k, v in batches.step_batch(step).items()}
        loss = ((model(batch["inputs"]) - batch["targets"]) ** 2).sum() / batch["targets"].numel()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        float(loss.detach())  # the loss is read every step in both loops (train() logs it)


def ours(model, batches, cfg, steps: int, local: bool, device: str) -> None:
    train(model, batches, cfg.model_copy(update={"steps": steps}), seed=0, loss_fn=prefix_mse_sum, local=local, device=device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--config", default=None, help="a regression study YAML (default: the demo preset)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.config:
        data, lines = load_yaml(args.config)
        cfg = validate_config(RegressionConfig, data, args.config, lines)
    else:
        cfg = RegressionConfig()
    t = cfg.task
    fam = TaskFamilies.from_seed(t.d, t.n_discrete, t.sigma, t.tau, 0)
    pcfg = cfg.base.train
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    if args.device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")

    def fresh():
        # every dimension active (no curriculum): the step at full size, as after the curriculum
        return build_model(cfg.base.model, t.d, cfg.n_points, seed=0).to(args.device), RegressionBatches(fam, cfg.n_points, t.alpha, 0, PRETRAIN_STREAM)

    loops = {
        "plain PyTorch": lambda m, b: plain_loop(m, b, pcfg, args.steps, args.device),
        "train(local=True)": lambda m, b: ours(m, b, pcfg, args.steps, True, args.device),
        "train(accelerate)": lambda m, b: ours(m, b, pcfg, args.steps, False, args.device),
    }
    for run in loops.values():  # warm-up: first-call costs out of the timings
        run(*fresh())
    rates: dict[str, list[float]] = {k: [] for k in loops}  # steps per CPU second of this process
    wall: dict[str, list[float]] = {k: [] for k in loops}  # steps per wall-clock second
    for _ in range(args.rounds):
        for name, run in loops.items():
            m, b = fresh()
            c0, t0 = time.process_time(), time.perf_counter()
            run(m, b)
            sync()
            rates[name].append(args.steps / (time.process_time() - c0))
            wall[name].append(args.steps / (time.perf_counter() - t0))
    params = sum(p.numel() for p in build_model(cfg.base.model, t.d, cfg.n_points, 0).parameters())
    print(f"{args.device}: model {cfg.base.model.layers}x{cfg.base.model.width} ({params:,} params), d={t.d}, k_max={t.k_max}, batch {pcfg.batch_size}, "
          f"{args.steps} steps x {args.rounds} rounds, {args.threads} thread(s)")
    for title, table in (("steps per CPU second (robust to other load on the machine)", rates), ("steps per wall-clock second", wall)):
        ref_best, ref_med = max(table["plain PyTorch"]), statistics.median(table["plain PyTorch"])
        print(f"\n{title}\n{'loop':<20}{'best':>10}{'median':>10}{'best/plain':>12}{'median/plain':>14}")
        for name, r in table.items():
            best, med = max(r), statistics.median(r)
            print(f"{name:<20}{best:>10.1f}{med:>10.1f}{best / ref_best:>12.3f}{med / ref_med:>14.3f}")


if __name__ == "__main__":
    main()
