"""Running seeds (forgetscope.execution): the heap that exists before a seed's stages (the imported
libraries) is frozen out of the garbage collector's walks while they run, and collectable again after
an in-process run."""

from __future__ import annotations

import gc
import queue

import pytest

from forgetscope.execution import ProgressView, _run_one, map_seeds


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
    from forgetscope.studies.common_config import SeedsRuntime

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert SeedsRuntime().resolved_workers(5) == 3
    assert SeedsRuntime(threads=2).resolved_workers(5) == 2  # one slot: two processes, each with two threads
    assert SeedsRuntime(workers=4).resolved_workers(5) == 4  # given: as given
