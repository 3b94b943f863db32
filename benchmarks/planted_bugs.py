"""The planted bugs of issue 13: each one applied to a copy of src/, then the tests that should catch it run.

    python benchmarks/planted_bugs.py [--only NAME]

Prints one line per bug: caught (the tests failed) or SURVIVED. Exit code 1 if any survived. The copy
goes first on PYTHONPATH, so the tests (and the subprocesses they start) import the planted code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name: (file under src/forgetscope, text, replacement, tests)
BUGS = {
    "label rule '>' flipped on the restored gap": (
        "analysis/decomposition.py", "np.where(R0 - R > tol,", "np.where(R0 - R < tol,", ["tests/test_analysis.py"]),
    "forgetting compared with '>= delta' instead of the tolerance rule": (
        "analysis/decomposition.py", "np.where(B - F > tol,", "np.where(B - F >= delta,", ["tests/test_analysis.py"]),
    "a 90% interval reported as 95%": (
        "analysis/decomposition.py", "alpha = (1 - level) / 2", "alpha = (1 - 0.90) / 2", ["tests/test_analysis.py"]),
    "log-likelihood slice off by one": (
        "evaluation/scorer.py", "rows.append(((ctx + cont)[:-1], [(i, cont)]))", "rows.append(((ctx + cont)[:-2], [(i, cont)]))",
        ["tests/test_scorer.py"]),
    "rolling-window stride off by one (a token counted twice)": (
        "evaluation/scorer.py", "for s in range(1, len(toks), step):", "for s in range(1, len(toks), step - 1):",
        ["tests/test_scorer.py"]),
    "ridge lambda = sigma/tau": (
        "studies/regression/baselines.py", '"ridge": ridge(xs, ys, sigma**2 / tau**2),', '"ridge": ridge(xs, ys, sigma / tau),',
        ["tests/test_regression_baselines.py"]),
    "ridge lambda = sigma^2/tau": (
        "studies/regression/baselines.py", '"ridge": ridge(xs, ys, sigma**2 / tau**2),', '"ridge": ridge(xs, ys, sigma**2 / tau),',
        ["tests/test_regression_baselines.py"]),
    "interpolation toward the checkpoint instead of the base": (
        "restoration/interpolation.py", "p.device, p.dtype), ratio)", "p.device, p.dtype), 1 - ratio)", ["tests/test_restoration.py"]),
    "restoration learning rate 0": (
        "restoration/lm_training.py", "    batches = LMBatches(", "    cfg = cfg.model_copy(update={'lr': 0.0})\n    batches = LMBatches(",
        ["tests/test_restoration.py"]),
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help="run the bugs whose name contains this text")
    args = ap.parse_args()
    survived = 0
    for name, (rel, old, new, tests) in BUGS.items():
        if args.only and args.only not in name:
            continue
        with tempfile.TemporaryDirectory(prefix="planted-") as tmp:
            src = Path(tmp) / "src"
            shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            f = src / "forgetscope" / rel
            text = f.read_text()
            if text.count(old) != 1:
                print(f"? {name}: the text to change is not in {rel} exactly once (code moved?)")
                survived += 1
                continue
            f.write_text(text.replace(old, new))
            env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
            t0 = time.time()
            proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-m", "not slow", "-p", "no:cacheprovider", *tests],
                                  cwd=ROOT, env=env, capture_output=True, text=True)
            failed = [ln.split(" - ")[0].removeprefix("FAILED ") for ln in proc.stdout.splitlines() if ln.startswith("FAILED")]
            caught = proc.returncode != 0
            survived += not caught
            print(f"{'caught  ' if caught else 'SURVIVED'} {name} ({time.time() - t0:.0f} s){': ' + ', '.join(failed) if failed else ''}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
