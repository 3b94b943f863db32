"""Damage a finished run in the ways issue 12 measured, run the same command again, and report what
forgetscope did: exit code, the lines it printed, whether the results equal the undamaged run's,
and whether anything stray is left.

    python benchmarks/corruption_cases.py                          # configs/trajectory-smoke.yaml
    python benchmarks/corruption_cases.py --config configs/regression-smoke.yaml --work /tmp/cases

Cases: a truncated checkpoint model.safetensors, a `_done.json` full of garbage, a garbage parquet
in a stage folder (each: found, that work redone, identical results), a cut config.yaml and a
garbage manifest.json (each: one line, exit 2), the NaN config (finetune.train.lr 1e6: one line,
exit 2, nothing labelled), and a full disk: the run folder on a tmpfs too small for it (mounting one
needs root; without it the disk is filled by a wrapper that fails writes with ENOSPC past a budget),
then the tmpfs enlarged and the command run again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def run(config: str, out: Path, cache: Path, *extra: str, wrapper: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "FORGETSCOPE_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    head = [sys.executable, "-c", wrapper] if wrapper else [sys.executable, "-m", "forgetscope"]
    return subprocess.run([*head, "run", config, "--out", str(out), "-q", *extra], cwd=ROOT, capture_output=True, text=True, env=env)


def results(folder: Path) -> dict:
    out = {p.name: pd.read_parquet(p) for p in sorted((folder / "results").glob("*.parquet"))}
    out["summary.json"] = json.loads((folder / "summary.json").read_text())
    return out


def same(a: dict, b: dict) -> bool:
    if set(a) != set(b):
        return False
    for k in a:
        if isinstance(a[k], pd.DataFrame):
            try:
                pd.testing.assert_frame_equal(a[k], b[k], check_exact=True)
            except AssertionError:
                return False
        elif a[k] != b[k]:
            return False
    return True


def strays(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if ".tmp-" in p.name or p.suffix == ".lock" or p.name.endswith("_damaged.json")]


def show(case: str, proc: subprocess.CompletedProcess, note: str = "") -> None:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    print(f"\n## {case}\nexit {proc.returncode}; {len(lines)} line(s) on stderr{'; ' + note if note else ''}")
    for ln in lines[:6]:
        print(f"    {ln}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/trajectory-smoke.yaml")
    ap.add_argument("--work", type=Path, default=Path("runs/corruption-cases"))
    args = ap.parse_args()
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cache = work / "cache"
    ref = work / "reference"
    proc = run(args.config, ref, cache)
    assert proc.returncode == 0, proc.stderr
    reference = results(ref)
    stage_of = {"trajectory": ("3_finetune", "4_evaluate"), "regression": ("2_finetune", "3_evaluate")}
    study = reference["summary.json"]["study"]
    finetune, evaluate = stage_of[study]

    def copy(name: str) -> Path:
        dst = work / name
        shutil.copytree(ref, dst)
        return dst

    def redo_case(name: str, damage) -> None:
        folder = copy(name)
        what = damage(folder)
        proc = run(args.config, folder, cache)
        ok = proc.returncode == 0 and same(reference, results(folder))
        show(f"{name}: {what}", proc, f"results identical to the undamaged run: {ok}; stray files: {strays(folder) or 'none'}")

    def truncate(folder: Path) -> str:
        f = sorted((folder / "seed-0" / finetune / "checkpoints").glob("step-*/model.safetensors"))[0]
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
        return f"{f.relative_to(folder)} cut to half"

    def garbage_record(folder: Path) -> str:
        f = folder / "seed-0" / finetune / "_done.json"
        f.write_bytes(os.urandom(300))
        return f"{f.relative_to(folder)} replaced by 300 random bytes"

    def garbage_parquet(folder: Path) -> str:
        f = sorted((folder / "seed-0" / evaluate).glob("*.parquet"))[1]
        f.write_bytes(b"PAR1" + os.urandom(f.stat().st_size - 8) + b"PAR1")
        return f"{f.relative_to(folder)} replaced by random bytes of the same size between parquet magic"

    redo_case("truncated-checkpoint", truncate)
    redo_case("garbage-done-record", garbage_record)
    redo_case("garbage-parquet", garbage_parquet)

    for name, damage in (("cut-config", lambda t: t[: len(t) // 2]), ("garbage-manifest", lambda t: "\x00garbage" + t[7:])):
        folder = copy(name)
        f = folder / ("config.yaml" if "config" in name else "manifest.json")
        f.write_text(damage(f.read_text()))
        show(f"{name}: {f.relative_to(folder)}", run(args.config, folder, cache))

    nan = work / "nan"
    proc = run(args.config, nan, cache, "--set", "finetune.train.lr=1.0e+6")
    done = sorted(str(p.relative_to(nan)) for p in nan.rglob("_done.json"))
    show("NaN config: --set finetune.train.lr=1.0e+6", proc,
         f"summary.json written: {(nan / 'summary.json').exists()}; stages done: {done}")

    tiny = work / "tmpfs"
    tiny.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(tiny)], capture_output=True).returncode == 0
    if mounted:
        try:
            proc = run(args.config, tiny / "run", cache)
            df = subprocess.run(["df", "-k", str(tiny)], capture_output=True, text=True).stdout.splitlines()[-1]
            show("full disk: the run folder on a 600 kB tmpfs", proc, f"df: {df}")
            subprocess.run(["mount", "-o", "remount,size=200m", str(tiny)], check=True)
            proc = run(args.config, tiny / "run", cache)
            ok = proc.returncode == 0 and same(reference, results(tiny / "run"))
            show("full disk, then the tmpfs enlarged to 200 MB: the same command again", proc,
                 f"results identical: {ok}; stray files: {strays(tiny / 'run') or 'none'}")
        finally:
            subprocess.run(["umount", str(tiny)], check=False)
    else:
        print("\n## full disk: no tmpfs (mounting needs root); see tests/test_faults.py for the simulated one")


if __name__ == "__main__":
    main()
