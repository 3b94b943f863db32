"""Progress in a log: `forgetscope run` with stderr to a file (no terminal) writes plain lines while
the run goes (seeds in worker processes included), each with counts, the elapsed time and an ETA, at
most one every few seconds per seed besides each stage's first and last (here: one a second); the findings and the
primary table come at the end, on stdout."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from cli_fork import start_cli
from conftest import with_changes, write_yaml

STEPS = 800
LINE = re.compile(r"^(\d\d):(\d\d):(\d\d)  (seed \d+)  (.+?)  (\d+)/(\d+)  elapsed (\d+:\d\d)  (ETA \d+:\d\d|ETA \?|done)$")


def test_run_logged_to_a_file_shows_progress_while_it_goes(smoke_config, tmp_path):
    # 800 steps: about 4 s on the 2-core VM when quiet, so a line with an estimate comes between the first
    # and the last on a CPU twice as fast too (200 steps took 1.05 s there: the estimate came or not)
    cfg = with_changes(smoke_config, seeds=[0, 1], runtime__workers=2, base__train__steps=STEPS)
    config = write_yaml(tmp_path / "c.yaml", cfg)
    seen_at: dict[str, float] = {}
    # a real process with stderr to a file: a fork of tests/cli_fork.py's pre-imported server (the entry
    # point in a fresh interpreter is test_cli_errors.py's subject, not this test's)
    run = start_cli("run", config, "--out", tmp_path / "run", env={**os.environ, "FORGETSCOPE_PROGRESS_EVERY": "1"})
    log = Path(run.stderr_path)
    while run.running():
        for line in (log.read_text() if log.exists() else "").splitlines():
            seen_at.setdefault(line, time.monotonic())
        time.sleep(0.2)
    ended = time.monotonic()
    proc = run.result()
    assert proc.returncode == 0, proc.stderr
    text, out = proc.stderr, proc.stdout
    assert "\x1b" not in text  # no terminal codes
    parsed = [m.groups() for m in map(LINE.match, text.splitlines()) if m]
    assert {g[3] for g in parsed} == {"seed 0", "seed 1"}
    # written while the run went, not at its end (the first line seconds before the process ended)
    first = text.splitlines()[0]
    assert first in seen_at and ended - seen_at[first] > 2, (ended - seen_at.get(first, ended))
    # every stage: a first line (0 done, no estimate yet), a last line (all done)
    stages: dict[tuple, list] = {}
    for g in parsed:
        stages.setdefault((g[3], g[4]), []).append(g)
    for (label, stage), lines in stages.items():
        assert lines[0][5] == "0" and lines[0][8] == "ETA ?", lines
        if stage != "pattern shift":
            assert lines[-1][5] == lines[-1][6] and lines[-1][8] == "done", lines
        seconds = [3600 * int(g[0]) + 60 * int(g[1]) + int(g[2]) for g in lines]
        middle = seconds[:-1] if lines[-1][8] == "done" else seconds
        assert all(b - a >= 1 for a, b in zip(middle, middle[1:])), (label, stage, lines)  # at most one line a second
    pretrain = stages[("seed 0", "base pretrain")]
    minutes, seconds = pretrain[-1][7].split(":")
    assert int(pretrain[0][6]) == STEPS and len(pretrain) <= 60 * int(minutes) + int(seconds) + 3  # a line a second
    estimates = [g for g in parsed if g[8].startswith("ETA ") and g[8] != "ETA ?"]
    assert estimates and all(0 < int(g[5]) < int(g[6]) for g in estimates)
    # the end: the findings and the primary probe's table, as compare prints them
    assert "findings" in out and "cloze_l1" in out and "intervals say" in out
