"""Running seeds (forgetscope.execution): the heap that exists before a seed's stages (the imported
libraries) is frozen out of the garbage collector's walks while they run, and collectable again after
an in-process run."""

from __future__ import annotations

import gc
import queue

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
