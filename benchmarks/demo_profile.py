"""Where `forgetscope demo`'s time goes: CPU seconds per study, seed and stage.

    python benchmarks/demo_profile.py --out /tmp/prof [--seeds 1] [--studies trajectory,regression]
    python benchmarks/demo_profile.py --out /tmp/prof --set trajectory:base.train.steps=400

Runs the demo's studies (their embedded configs, `--set study:key=value` overrides) in this one
process, seeds one after another (`runtime.workers=1`, the demo's one torch thread per seed), and
times every per-seed stage and the run-level steps (analysis, report; the conjugate study as a
whole) by this process's CPU time (user + system: what the work costs whatever else runs on a shared
machine) and by wall-clock time. `--seeds N` keeps the first N seeds of each study: the stages of one
seed cost the same as another's, so the demo's total is the per-seed figure times its seeds.
Uses its own cache folder (`--cache`, default OUT/cache, emptied first unless `--keep-cache`).
Prints a table and writes OUT/profile.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--keep-cache", action="store_true", help="keep what the cache holds (a cached-bases profile)")
    ap.add_argument("--seeds", type=int, default=None, help="only the first N seeds of each study")
    ap.add_argument("--studies", default="trajectory,conjugate,regression")
    ap.add_argument("--set", action="append", default=[], metavar="STUDY:KEY=VALUE")
    args = ap.parse_args()

    cache = args.cache or args.out / "cache"
    if cache.exists() and not args.keep_cache:
        shutil.rmtree(cache)
    os.environ["FORGETSCOPE_CACHE"] = str(cache)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.out.exists():
        for name in args.studies.split(","):
            shutil.rmtree(args.out / name, ignore_errors=True)

    from forgetscope.demo import demo_config_path
    from forgetscope.execution import ProgressView, quiet_libraries
    from forgetscope.studies.registry import load_config
    from forgetscope.studies.regression import main as regression_main
    from forgetscope.studies.trajectory import main as trajectory_main

    quiet_libraries()
    rows: list[dict] = []

    def timed(study: str, fn, name: str | None = None):
        label = name or fn.__name__

        def wrapper(*a, **kw):
            seed = getattr(a[0], "seed", None) if a else None
            c0, w0 = time.process_time(), time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                rows.append({"study": study, "seed": seed, "stage": label,
                             "cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - w0})
        return wrapper

    for mod, study in ((trajectory_main, "trajectory"), (regression_main, "regression")):
        mod.SEED_STAGES = tuple(timed(study, f) for f in mod.SEED_STAGES)
        mod.analyze = timed(study, mod.analyze, "analyze (run)")
        mod.render_report = timed(study, mod.render_report, "report (run)")

    overrides: dict[str, list[str]] = defaultdict(list)
    for s in args.set:
        study, kv = s.split(":", 1)
        overrides[study].append(kv)
    args.out.mkdir(parents=True, exist_ok=True)
    total_c0, total_w0 = time.process_time(), time.perf_counter()
    with ProgressView(quiet=True) as view:
        for name in args.studies.split(","):
            extra = ["runtime.workers=1"] if name != "conjugate" else []
            study, cfg = load_config(demo_config_path(name), extra + overrides[name])
            if args.seeds is not None and isinstance(getattr(cfg, "seeds", None), list):
                cfg.seeds = cfg.seeds[: args.seeds]
            run = timed(name, study.run, "whole study")
            run(cfg, args.out / name, view)
            (args.out / "profile-rows.json").write_text(json.dumps(rows, indent=1))  # so far
    total = {"cpu_s": time.process_time() - total_c0, "wall_s": time.perf_counter() - total_w0}

    print(f"{'study':<11} {'stage':<24} {'seeds':>5} {'CPU s / seed':>12} {'CPU s total':>11} {'wall s total':>12}")
    grouped: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        grouped[(r["study"], r["stage"])].append(r)
    table = []
    for (study, stage), rs in grouped.items():
        cpu, wall = sum(r["cpu_s"] for r in rs), sum(r["wall_s"] for r in rs)
        seeds = len({r["seed"] for r in rs if r["seed"] is not None}) or 1
        table.append({"study": study, "stage": stage, "seeds": seeds, "cpu_s_per_seed": cpu / seeds, "cpu_s": cpu, "wall_s": wall})
        print(f"{study:<11} {stage:<24} {seeds:>5} {cpu / seeds:>12.1f} {cpu:>11.1f} {wall:>12.1f}")
    print(f"{'all':<11} {'(this process)':<24} {'':>5} {'':>12} {total['cpu_s']:>11.1f} {total['wall_s']:>12.1f}")
    (args.out / "profile.json").write_text(json.dumps(
        {"rows": rows, "table": table, "total": total, "load_average_end": os.getloadavg(), "args": vars(args) | {"out": str(args.out), "cache": str(cache)}},
        indent=2, default=str))


if __name__ == "__main__":
    main()
