"""How fast, and in how much memory, absurd and hostile configs are refused.

    python benchmarks/bad_input.py            # in-process validation, then `forgetscope validate` per config

For each config: the time `load_config` takes to refuse it in a process that has already imported
forgetscope (the validation itself; best and worst of 5), the growth of the process's peak memory
while refusing it, and the wall time and peak memory of the whole `forgetscope validate` command (a
new interpreter: Python, torch and transformers start-up included), next to the same command on the
valid smoke config.
"""

from __future__ import annotations

import copy
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def configs(folder: Path) -> dict[str, Path]:
    base = yaml.safe_load((ROOT / "configs/trajectory-smoke.yaml").read_text())

    def variant(name: str, change) -> Path:
        data = copy.deepcopy(base)
        change(data)
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    out = {
        "valid smoke config": ROOT / "configs/trajectory-smoke.yaml",
        "checkpoints.count: 1e9": variant("count", lambda d: d["finetune"].update(checkpoints={"count": 1_000_000_000})),
        "train.steps: 1e12": variant("steps", lambda d: d["finetune"]["train"].update(steps=10**12)),
        "train.batch_size: 1e9": variant("batch", lambda d: d["finetune"]["train"].update(batch_size=10**9)),
        "runtime.threads: 100000": variant("threads", lambda d: d.setdefault("runtime", {}).update(threads=100_000)),
        "world.pretrain.icl_episodes: 1e9": variant("episodes", lambda d: d["world"]["pretrain"].update(icl_episodes=10**9)),
    }
    laughs = folder / "laughs.yaml"
    laughs.write_text("study: trajectory\na0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)))
    out["YAML aliases (9^9 entries)"] = laughs
    deep = folder / "deep.yaml"
    deep.write_text("study: trajectory\nx: " + "[" * 100_000 + "]" * 100_000 + "\n")
    out["100,000 nested lists"] = deep
    return out


def in_process(path: Path) -> tuple[float, float, int, str]:
    from forgetscope.errors import UserError
    from forgetscope.studies.registry import load_config

    times, message = [], "valid"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(5):
        t0 = time.perf_counter()
        try:
            load_config(path)
        except UserError as e:
            message = str(e).split(": ", 1)[-1]
        times.append(time.perf_counter() - t0)
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    return min(times), max(times), grew, message


def cli(path: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (kB) and exit code of `forgetscope validate PATH` (GNU time measures it)."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "forgetscope", "validate", str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    wall, rss = proc.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss), proc.returncode


def main() -> None:
    from forgetscope.studies.registry import STUDIES

    STUDIES.get("trajectory")  # the imports, once, before any timing
    with tempfile.TemporaryDirectory() as d:
        cases = configs(Path(d))
        print("| config | validation: best / worst of 5 | peak memory growth | message |")
        print("|---|---|---|---|")
        for name, path in cases.items():
            best, worst, grew, msg = in_process(path)
            print(f"| {name} | {1000 * best:.1f} ms / {1000 * worst:.1f} ms | {grew / 1024:.1f} MB | {msg[:90]} |", flush=True)
        print("\n| config | `forgetscope validate`: wall | peak RSS | exit |")
        print("|---|---|---|---|")
        for name, path in cases.items():
            wall, rss, rc = cli(path)
            print(f"| {name} | {wall:.2f} s | {rss / 1024:.0f} MB | {rc} |", flush=True)


if __name__ == "__main__":
    main()
