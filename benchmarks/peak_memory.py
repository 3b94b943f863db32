"""Wall time and peak memory of a whole command, all its processes together.

    python benchmarks/peak_memory.py -- .venv/bin/forgetscope demo --out /tmp/demo-mem

Every second (--interval) it sums the memory of the command's process tree (the command and every descendant,
found through /proc): resident set size (RSS), and proportional set size (PSS, from
/proc/PID/smaps_rollup: shared pages divided among the processes sharing them, so forked seed
workers are not counted twice). Prints wall time, peak total PSS and RSS, and the most processes
seen at once; writes nothing. Linux only. Sampling can miss a peak shorter than the interval.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d.name))
    return kids


def tree(root: int) -> list[int]:
    kids, out, todo = children_map(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; (0, 0) when it has gone."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between samples (the sampling itself costs CPU: about 20%% of a core at 0.2 s with a dozen processes)")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        sys.exit("give the command after --")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak_rss = peak_pss = most = 0
    while proc.poll() is None:
        pids = tree(proc.pid)
        mem = [memory_kib(p) for p in pids]
        peak_rss = max(peak_rss, sum(m[0] for m in mem))
        peak_pss = max(peak_pss, sum(m[1] for m in mem))
        most = max(most, sum(1 for m in mem if m[0]))
        time.sleep(args.interval)
    wall = time.perf_counter() - start
    print(f"exit {proc.returncode}; wall {wall:.1f} s; peak PSS {peak_pss / 1024:.0f} MiB; peak RSS {peak_rss / 1024:.0f} MiB "
          f"(all processes together, sampled every {args.interval} s); at most {most} processes; "
          f"load average at the end {os.getloadavg()[0]:.2f}")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
