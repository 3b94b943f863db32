"""Wall time and peak memory of a whole command, all its processes together.

    python benchmarks/peak_memory.py -- .venv/bin/forgetscope demo --out /tmp/demo-mem

Every second (--interval) it sums the memory of the command's process tree (the command and every descendant,
found through /proc): resident set size (RSS), and proportional set size (PSS, from
/proc/PID/smaps_rollup: shared pages divided among the processes sharing them, so forked seed
workers are not counted twice). Prints wall time, the CPU time of the command and its descendants (each
process's user + system time at its last sample, so a lower bound: up to one interval of each
process's last work is missed; getrusage cannot see processes that no one waits for, such as a
multiprocessing fork server and its children), peak total PSS and RSS, the most processes seen at once, and each process's PSS at the peak; writes
nothing. Linux only. Sampling can miss a peak shorter than the interval.
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


def label(pid: int) -> str:
    """A process's command line, shortened: the executable's name and its first arguments."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "?"
    return " ".join([Path(argv[0]).name, *argv[1:4]])[:100]


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far; 0 when it has gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


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
    at_peak: list[tuple[int, int]] = []
    names: dict[int, str] = {}
    cpu: dict[int, float] = {}
    while proc.poll() is None:
        pids = tree(proc.pid)
        mem = [memory_kib(p) for p in pids]
        peak_rss = max(peak_rss, sum(m[0] for m in mem))
        if sum(m[1] for m in mem) > peak_pss:
            peak_pss = sum(m[1] for m in mem)
            at_peak = [(p, m[1]) for p, m in zip(pids, mem) if m[0]]
            names = {p: label(p) for p, _ in at_peak}
        most = max(most, sum(1 for m in mem if m[0]))
        for p in pids:
            cpu[p] = max(cpu.get(p, 0.0), cpu_seconds(p))
        time.sleep(args.interval)
    wall = time.perf_counter() - start
    print(f"exit {proc.returncode}; wall {wall:.1f} s; CPU ≥ {sum(cpu.values()):.0f} s (user + system, {len(cpu)} processes); "
          f"peak PSS {peak_pss / 1024:.0f} MiB; peak RSS {peak_rss / 1024:.0f} MiB "
          f"(all processes together, sampled every {args.interval} s); at most {most} processes; "
          f"load average at the end {os.getloadavg()[0]:.2f}")
    for pid, pss in sorted(at_peak, key=lambda x: -x[1]):
        print(f"  at the peak: {pss / 1024:6.0f} MiB PSS  pid {pid}  {names.get(pid, '?')}")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
