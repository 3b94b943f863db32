"""Running seeds (forgetscope.execution): the heap that exists before a seed's stages (the imported
libraries) is frozen out of the garbage collector's walks while they run, and collectable again after
an in-process run."""

from __future__ import annotations

import gc
import os
import queue

import pytest

from forgetscope.execution import ProgressView, _run_one, map_seeds

IMPORTED_BY = os.getpid()  # the process that imported this module: a preloading server's pid in its forks


class Cycle:
    def __init__(self):
        self.me = self


def _seed_work(seed: int, reporter) -> tuple[int, int, bool]:
    """What a seed sees: the freeze count, and whether a cycle made during the work is still collected."""
    import weakref

    c = Cycle()
    ref = weakref.ref(c)
    del c
    gc.collect()
    return seed, gc.get_freeze_count(), ref() is None


def test_seeds_run_on_a_frozen_heap_and_leave_it_unfrozen():
    gc.unfreeze()
    out = map_seeds(_seed_work, (), [3, 4], workers=1, threads=1, view=ProgressView(quiet=True))
    assert [s for s, _, _ in out] == [3, 4]
    assert all(frozen > 1000 for _, frozen, _ in out)  # the imported libraries
    assert all(collected for _, _, collected in out)  # garbage made by the work is still collected
    assert gc.get_freeze_count() == 0  # this process goes on with every object collectable


def test_a_worker_freezes_its_heap_before_the_seed():
    gc.unfreeze()
    try:
        seed, frozen, collected = _run_one(_seed_work, (), 5, queue.Queue())
        assert seed == 5 and frozen > 1000 and collected
    finally:
        gc.unfreeze()


def _where_imported(seed: int, reporter) -> tuple[int, int, int, list[float]]:
    import torch

    torch.manual_seed(seed)
    return os.getpid(), os.getppid(), IMPORTED_BY, torch.rand(4).tolist()


def test_workers_are_forks_of_one_server_that_imported_the_code(monkeypatch):
    """Seed workers do not import the study's code (and torch) each: one server process imported it,
    and each worker is a fork of that server. The numbers are those of an in-process run."""
    import cli_fork
    import torch

    # The server imports with its own sys.path (Python 3.11's ignores the caller's), so this test
    # module is put on its PYTHONPATH, as a study's module is installed; and it is started afresh,
    # since a running server keeps the preloads it started with.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]))
    cli_fork.stop()
    out = map_seeds(_where_imported, (), [0, 1, 2], workers=2, threads=1, view=ProgressView(quiet=True))
    pids, parents, importers = ({r[i] for r in out} for i in range(3))
    assert os.getpid() not in pids  # worker processes ran the seeds
    assert importers == parents and len(importers) == 1  # imported once, by the workers' parent
    assert os.getpid() not in importers and importers.isdisjoint(pids)  # ... which is neither this process nor a worker
    here = []
    for s in (0, 1, 2):
        torch.manual_seed(s)
        here.append(torch.rand(4).tolist())
    assert [r[3] for r in out] == here


def _what_a_worker_sees(seed: int, reporter) -> tuple[str | None, str]:
    return os.environ.get("FORGETSCOPE_TEST_MARK"), os.getcwd()


def test_a_worker_has_the_callers_environment_and_folder_of_now(monkeypatch, tmp_path):
    """The fork server keeps the environment and folder it started with; each pool's workers get the
    caller's as they are when the pool starts, as spawned workers did."""
    view = ProgressView(quiet=True)
    monkeypatch.delenv("FORGETSCOPE_TEST_MARK", raising=False)
    assert {m for m, _ in map_seeds(_what_a_worker_sees, (), [0, 1], workers=2, threads=1, view=view)} == {None}  # server started
    monkeypatch.setenv("FORGETSCOPE_TEST_MARK", "later")
    monkeypatch.chdir(tmp_path)
    out = map_seeds(_what_a_worker_sees, (), [0, 1], workers=2, threads=1, view=view)
    assert out == [("later", str(tmp_path))] * 2


def _fails_or_trains_long(folder: str, seed: int, reporter) -> int:
    """Seed 0 fails at once; the others 'train' for 30 s, then leave a file saying they finished."""
    import time
    from pathlib import Path

    if seed == 0:
        raise ValueError("seed 0 failed")
    time.sleep(30)
    Path(folder, f"seed-{seed}.finished").touch()
    return seed


def test_a_failed_seed_stops_the_other_workers(tmp_path):
    """A failure (or Ctrl-C) in one seed ends the run now: the seeds already handed to workers are not
    left to train to their end first (they would leave their files after 30 s)."""
    with pytest.raises(ValueError, match="seed 0 failed"):
        map_seeds(_fails_or_trains_long, (str(tmp_path),), [0, 1, 2, 3], workers=2, threads=1, view=ProgressView(quiet=True))
    assert not list(tmp_path.glob("*.finished"))


def _simulated_makespan(n_seeds: int, workers: int, slots: int) -> float:
    """Brute force, independent of seed_workers' formula: `workers` processes take seeds (each 1 unit
    of work) from a queue; while k of them run, each runs at min(1, slots / k). Event by event."""
    queue, running, t = n_seeds, [], 0.0
    while queue or running:
        while queue and len(running) < workers:
            running.append(1.0)
            queue -= 1
        rate = min(1.0, slots / len(running))
        dt = min(running) / rate
        t += dt
        running = [r - dt * rate for r in running if r - dt * rate > 1e-12]
    return t


def test_auto_workers_finish_the_seeds_soonest():
    from forgetscope.studies.common_config import seed_workers

    for cores in (1, 2, 3, 4, 16):
        for threads in (1, 2):
            slots = max(1, cores // threads)
            for n in range(1, 13):
                w = seed_workers(n, cores, threads)
                spans = {k: _simulated_makespan(n, k, slots) for k in range(1, min(n, 2 * slots) + 1)}
                best = min(spans.values())
                assert spans[w] == pytest.approx(best), (cores, threads, n, w, spans)
                assert w == max(k for k, v in spans.items() if v == pytest.approx(best))  # ties: more processes
    # the demo's cases on this project's 2-core machine: five trajectory seeds run three at a time (the
    # last two together, not the fifth alone), eight regression seeds four at a time
    assert seed_workers(5, 2) == 3 and _simulated_makespan(5, 3, 2) == pytest.approx(2.5) and _simulated_makespan(5, 4, 2) == pytest.approx(3.0)
    assert seed_workers(8, 2) == 4


def test_auto_workers_follow_the_cores_and_threads(monkeypatch):
    from forgetscope.studies import common_config
    from forgetscope.studies.common_config import SeedsRuntime

    monkeypatch.setattr(common_config, "CORES", 2)  # the cores this process may use (hardware.usable_cores)
    assert SeedsRuntime().resolved_workers(5) == 3
    assert SeedsRuntime(threads=2).resolved_workers(5) == 2  # one slot: two processes, each with two threads
    assert SeedsRuntime(workers=4).resolved_workers(5) == 4  # given: as given


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_in_a_log_is_plain_lines_rate_limited_per_bar():
    """Where stderr is not a terminal: a line when a stage starts and when its last unit is done, and
    in between at most one every `every` seconds per label, each with the count, the elapsed time and
    an ETA from the rate so far."""
    import io

    from rich.console import Console

    from forgetscope.execution import Reporter

    err, clock = io.StringIO(), FakeClock()
    view = ProgressView(Console(file=err), every=5.0, clock=clock)
    assert view.lines is not None  # a StringIO is no terminal
    a, b = Reporter(view.handle, "seed 0"), Reporter(view.handle, "seed 1")
    with view:
        a.start("restore", 10)
        b.start("evaluate", 3)
        for _ in range(9):  # one unit a second: seed 0's lines 5 s apart
            clock.now += 1.0
            a.advance()
        b.advance(3)
        clock.now += 1.0
        a.advance()
    lines = [line.split("  ", 1)[1] for line in err.getvalue().splitlines()]
    assert lines == [
        "seed 0  restore  0/10  elapsed 0:00  ETA ?",
        "seed 1  evaluate  0/3  elapsed 0:00  ETA ?",
        "seed 0  restore  5/10  elapsed 0:05  ETA 0:05",
        "seed 1  evaluate  3/3  elapsed 0:09  done",
        "seed 0  restore  10/10  elapsed 0:10  done",
    ]
    assert "\x1b" not in err.getvalue()  # no terminal codes in a log


def test_progress_on_a_terminal_is_a_bar_with_the_time_left():
    import io

    from rich.console import Console
    from rich.progress import TimeRemainingColumn

    view = ProgressView(Console(file=io.StringIO(), force_terminal=True))
    assert view.lines is None and any(isinstance(c, TimeRemainingColumn) for c in view.progress.columns)


def test_the_interval_of_log_lines_comes_from_the_environment(monkeypatch):
    import io

    from rich.console import Console

    for value, every in (("2", 2.0), ("0", 0.0), ("soon", 5.0), ("", 5.0)):
        monkeypatch.setenv("FORGETSCOPE_PROGRESS_EVERY", value)
        assert ProgressView(Console(file=io.StringIO())).lines.every == every
