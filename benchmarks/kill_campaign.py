"""A kill -9 campaign: run a study, SIGKILL it at a point drawn at random (once or twice), run it again
to the end, and check that it resumed, that its numbers equal an uninterrupted run's, and that
nothing stray is left (temporaries, locks, set-aside records) in the run folders or the cache.

    python benchmarks/kill_campaign.py --trials 20                  # the three smoke configs
    python benchmarks/kill_campaign.py --trials 5 --studies regression --work /tmp/campaign

The kill points come from forgetscope's stop hook (forgetscope.store.stop): a traced uninterrupted run
lists every point it passes (stage and unit starts and ends, each fine-tuning checkpoint, every
atomic write, in the run folder and in the cache); a trial draws one, kills the run there
(`FORGETSCOPE_KILL_AT`: the process group gets SIGKILL, as `kill -9 -PGID` would), sometimes draws a
second, later point for the resumed run, then reruns to the end. Half the trials start with an empty
base cache (so kills also land in base pre-training and in cache writes), half with a warm one.

Studies: `configs/trajectory-smoke.yaml`, `configs/regression-smoke.yaml`, and
`configs/conjugate-smoke.yaml` (the fact world on a trajectory smoke run that the conjugate command
builds first: kills land in both). "Identical" compares every results/*.parquet table exactly and
summary.json as a whole, for every run folder the command writes. Writes one JSON line per trial to
WORK/trials.jsonl and prints a summary table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
STUDIES = {
    "trajectory": {"config": "configs/trajectory-smoke.yaml", "runs": ["trajectory-smoke"], "out": "trajectory-smoke"},
    "regression": {"config": "configs/regression-smoke.yaml", "runs": ["regression-smoke"], "out": "regression-smoke"},
    "conjugate": {"config": "configs/conjugate-smoke.yaml", "runs": ["conjugate-smoke", "trajectory-smoke"], "out": "conjugate-smoke"},
}


def forgetscope(config: str, out: Path, cache: Path, env_extra: dict | None = None, timeout: int = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "FORGETSCOPE_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "forgetscope", "run", config, "--out", str(out), "-q"], cwd=ROOT,
                          capture_output=True, text=True, env=env, start_new_session=True, timeout=timeout)


def results(folder: Path, runs: list[str]) -> dict:
    out = {}
    for r in runs:
        for p in sorted((folder / r / "results").glob("*.parquet")):
            out[f"{r}/results/{p.name}"] = pd.read_parquet(p)
        # the one path a summary records (the conjugate study's `fact_world.run`) names this trial's folder
        text = (folder / r / "summary.json").read_text().replace(str(folder.resolve()), "FOLDER").replace(str(folder), "FOLDER")
        out[f"{r}/summary.json"] = json.loads(text)
    return out


def identical(a: dict, b: dict) -> str | None:
    """None, or the first difference."""
    if set(a) != set(b):
        return f"files differ: {sorted(set(a) ^ set(b))}"
    for k in a:
        if isinstance(a[k], pd.DataFrame):
            try:
                pd.testing.assert_frame_equal(a[k], b[k], check_exact=True)
            except AssertionError as e:
                return f"{k}: {str(e).splitlines()[0]}"
        elif a[k] != b[k]:
            return f"{k} differs"
    return None


def strays(*roots: Path) -> list[str]:
    found = []
    for root in roots:
        if root.exists():
            found += [str(p) for p in root.rglob("*") if ".tmp-" in p.name or p.suffix == ".lock" or p.name.endswith("_damaged.json")]
    return found


def pattern(point: str, roots: list[Path]) -> str:
    """A traced point as a pattern that matches it in another folder: its run or cache folder -> `*`."""
    for root in sorted(roots, key=lambda p: -len(str(p))):
        point = point.replace(str(root), "*")
    return point


def trace(study: dict, work: Path, cold: bool, warm_cache: Path) -> tuple[list[str], dict]:
    """An uninterrupted, traced run: (every point it passed, as patterns; its results)."""
    folder = work / f"trace-{'cold' if cold else 'warm'}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    cache = warm_cache  # empty for the cold trace, which fills it for the warm one
    if cold:
        shutil.rmtree(cache, ignore_errors=True)
    points_file = folder / "points.txt"
    t0 = time.time()
    proc = forgetscope(study["config"], folder / study["out"], cache, {"FORGETSCOPE_KILL_TRACE": str(points_file)})
    if proc.returncode != 0:
        sys.exit(f"the traced run failed:\n{proc.stderr}")
    names = points_file.read_text().splitlines()
    points = list(dict.fromkeys(pattern(p, [folder.resolve(), folder, cache.resolve(), cache]) for p in names))
    print(f"  traced {'cold' if cold else 'warm'} run: {len(names)} points ({len(points)} distinct), {time.time() - t0:.0f} s", flush=True)
    return points, results(folder, study["runs"])


def trial(study: dict, i: int, rng: random.Random, work: Path, traces: dict, warm_cache: Path, reference: dict) -> dict:
    cold = i % 2 == 0
    points = traces[cold]
    folder = work / f"trial-{i:03d}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    cache = folder / "cache" if cold else warm_cache
    if cold:
        cache.mkdir()
    first = rng.randrange(len(points))
    kills = [points[first]]
    if rng.random() < 0.5 and first + 1 < len(points):
        kills.append(points[rng.randrange(first + 1, len(points))])
    record = {"trial": i, "cold_cache": cold, "kill_at": kills, "killed": [], "resumed": False, "identical": False, "strays": []}
    for point in kills:
        proc = forgetscope(study["config"], folder / study["out"], cache, {"FORGETSCOPE_KILL_AT": point})
        record["killed"].append(proc.returncode == -signal.SIGKILL)
        if proc.returncode not in (-signal.SIGKILL, 0):
            record["error"] = proc.stderr.strip().splitlines()[-1:] if proc.stderr else proc.returncode
            return record
    final = forgetscope(study["config"], folder / study["out"], cache)
    record["resumed"] = final.returncode == 0
    if not record["resumed"]:
        record["error"] = final.stderr.strip().splitlines()[-3:]
        return record
    record["notices"] = [ln for ln in final.stderr.splitlines() if ln.startswith("forgetscope:")]
    diff = identical(reference, results(folder, study["runs"]))
    record["identical"] = diff is None
    if diff:
        record["difference"] = diff
    record["strays"] = strays(folder, cache)
    if record["identical"] and not record["strays"]:
        shutil.rmtree(folder, ignore_errors=True)  # keep failures only
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20, help="trials per study")
    ap.add_argument("--studies", nargs="+", default=list(STUDIES), choices=list(STUDIES))
    ap.add_argument("--seed", type=int, default=0, help="seed of the draws of kill points")
    ap.add_argument("--work", type=Path, default=Path("runs/kill-campaign"))
    args = ap.parse_args()
    args.work = args.work.resolve()
    log = args.work / "trials.jsonl"
    args.work.mkdir(parents=True, exist_ok=True)
    totals = {}
    for name in args.studies:
        study = STUDIES[name]
        work = args.work / name
        work.mkdir(parents=True, exist_ok=True)
        warm_cache = work / "warm-cache"
        print(f"{name}: {study['config']}", flush=True)
        cold_points, reference = trace(study, work, True, warm_cache)
        warm_points, warm_reference = trace(study, work, False, warm_cache)
        assert identical(reference, warm_reference) is None, "a cached base changed the results"
        traces = {True: cold_points, False: warm_points}
        rng = random.Random(f"{args.seed}-{name}")
        rows = []
        for i in range(args.trials):
            t0 = time.time()
            r = trial(study, i, rng, work, traces, warm_cache, reference)
            r.update(study=name, seconds=round(time.time() - t0, 1))
            rows.append(r)
            with open(log, "a") as f:
                f.write(json.dumps(r) + "\n")
            ok = r["resumed"] and r["identical"] and not r["strays"]
            print(f"  trial {i:2d} {'ok  ' if ok else 'FAIL'} kills {sum(r['killed'])}/{len(r['kill_at'])} at {r['kill_at']}"
                  f"{'' if ok else ' ' + json.dumps({k: r.get(k) for k in ('error', 'difference', 'strays')})}", flush=True)
        totals[name] = rows
    print("\n| study | trials | SIGKILLs | resumed | identical | no stray files |\n|---|---|---|---|---|---|")
    for name, rows in totals.items():
        n = len(rows)
        print(f"| {name} | {n} | {sum(sum(r['killed']) for r in rows)} | {sum(r['resumed'] for r in rows)}/{n} | "
              f"{sum(r['identical'] for r in rows)}/{n} | {sum(r['resumed'] and not r['strays'] for r in rows)}/{n} |")


if __name__ == "__main__":
    main()
