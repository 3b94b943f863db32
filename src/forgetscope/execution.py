"""Running a study's per-seed pipeline: in this process or in parallel worker processes, with rich
progress bars (plain lines in a log) fed by events from wherever the work runs."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Emit = Callable[[dict], None]
LOG_EVERY = 5.0  # seconds between two progress lines of one seed in a log ($FORGETSCOPE_PROGRESS_EVERY)


class Reporter:
    """Handed to stages: `start(stage, total)`, then `advance()` as work is done."""

    def __init__(self, emit: Emit | None, label: str):
        self.emit = emit or (lambda e: None)
        self.label = label

    def start(self, stage: str, total: int | None = None) -> None:
        self.emit({"label": self.label, "stage": stage, "total": total})

    def advance(self, n: int = 1) -> None:
        self.emit({"label": self.label, "advance": n})

    def log(self, message: str) -> None:
        self.emit({"label": self.label, "log": message})


class ProgressView:
    """One progress bar per label (a seed, a study), showing the stage it is in and the time it has
    left. Where stderr is not a terminal (a log file, a pipe), rich's bars would print nothing until
    the end: there each stage is a plain line (StageLines) instead, and again as its units are done."""

    def __init__(self, console: Console | None = None, quiet: bool = False, *, every: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.console = console or Console(stderr=True)
        every = _seconds(os.environ.get("FORGETSCOPE_PROGRESS_EVERY"), LOG_EVERY) if every is None else every
        self.quiet = quiet
        self.lines = None if quiet or self.console.is_terminal else StageLines(self.console, every=every, clock=clock)
        self.progress = Progress(
            TextColumn("{task.fields[label]:>8} {task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), console=self.console, disable=quiet or self.lines is not None, transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.lock = threading.Lock()

    def __enter__(self) -> ProgressView:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def handle(self, event: dict) -> None:
        with self.lock:
            if self.lines is not None:
                self.lines.handle(event)
                return
            label = event["label"]
            if label not in self.tasks:
                self.tasks[label] = self.progress.add_task("", total=None, label=label)
            task = self.tasks[label]
            if "stage" in event:
                self.progress.reset(task, total=event["total"], description=event["stage"])
            elif "advance" in event:
                self.progress.advance(task, event["advance"])
            elif "log" in event and not self.quiet:
                self.progress.console.print(f"[dim]{label}[/dim] {event['log']}")


class StageLines:
    """Progress as plain lines, for a log: `HH:MM:SS  seed 0  restore  3/8  elapsed 0:12  ETA 0:20`.
    One line when a stage starts and one when its last unit is done; in between, at most one line
    every `every` seconds per label, so that a long stage shows it is moving without flooding the log."""

    def __init__(self, console: Console, *, every: float, clock: Callable[[], float]):
        self.console, self.every, self.clock = console, every, clock
        self.bars: dict[str, dict] = {}

    def handle(self, event: dict) -> None:
        label, now = event["label"], self.clock()
        if "stage" in event:
            self.bars[label] = {"stage": event["stage"], "total": event["total"], "done": 0, "start": now, "shown": now}
            self._line(label, now)
        elif "advance" in event and label in self.bars:
            bar = self.bars[label]
            bar["done"] += event["advance"]
            if (bar["total"] is not None and bar["done"] >= bar["total"]) or now - bar["shown"] >= self.every:
                bar["shown"] = now
                self._line(label, now)
        elif "log" in event:
            self._write(f"{label}  {event['log']}")

    def _line(self, label: str, now: float) -> None:
        bar = self.bars[label]
        done, total, elapsed = bar["done"], bar["total"], now - bar["start"]
        count = f"{done}/{total}" if total is not None else f"{done}"
        if total is not None and done >= total:
            eta = "done"
        elif total is None or done == 0:
            eta = "ETA ?"
        else:
            eta = f"ETA {_clock(elapsed / done * (total - done))}"
        self._write(f"{label}  {bar['stage']}  {count}  elapsed {_clock(elapsed)}  {eta}")

    def _write(self, text: str) -> None:
        f = self.console.file
        f.write(f"{time.strftime('%H:%M:%S')}  {text}\n")
        f.flush()


def _seconds(text: str | None, default: float) -> float:
    """A number of seconds from the environment; unset or not a number: the default."""
    try:
        return max(0.0, float(text)) if text else default
    except ValueError:
        return default


def _clock(seconds: float) -> str:
    """0:07, 12:05, 1:02:05."""
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def quiet_libraries() -> None:
    """Our progress bars replace the libraries' own (weight loading, shard writing)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft|accelerate)\b")


def _init_worker(threads: int, environ: dict[str, str] | None = None, cwd: str | None = None) -> None:
    """A worker's set-up. `environ` and `cwd` are the caller's now: a worker forked from a server that
    started earlier would otherwise have the server's (variables read while a seed runs, such as the
    base cache's and the stop hook's, take effect; those a library read at import keep the server's)."""
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    if cwd is not None:
        os.chdir(cwd)
    quiet_libraries()
    torch.set_num_threads(threads)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's CPU threads set to `n` for a block of work, then back to what they were."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _freeze_heap() -> None:
    """Move every object that exists now (the imported libraries: ~450k objects) out of the garbage
    collector's view. Each full collection (the stages' explicit ones after each model, and the
    automatic ones) otherwise walks them all: about 0.5 s each, ~15 s per trajectory seed
    (benchmarks/README.md, "Where the demo's time goes"). Objects made later are collected as before."""
    gc.collect()
    gc.freeze()


def _run_one(fn: Callable, args: tuple, seed: int, q) -> Any:
    _freeze_heap()
    return fn(*args, seed, Reporter(q.put, f"seed {seed}"))


def worker_context(fn: Callable) -> mp.context.BaseContext:
    """Where seed workers come from: forks of one server process that has imported this module and
    `fn`'s (torch, transformers, the study's code) once, instead of fresh interpreters that each
    import them again. Each spawned worker paid about 9-17 CPU-seconds of imports and kept its own
    copy of the libraries' Python objects (about 375 MiB PSS); a fork pays neither and shares those
    pages until they are written (benchmarks/README.md, "Seed workers forked from a server"). The
    server is started by the first pool and serves every later one in this process; a module it
    cannot preload is imported by each worker instead; preloads set by other code are kept. Where
    there is no fork server (Windows): spawn."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    from multiprocessing import forkserver

    ctx = mp.get_context("forkserver")
    preload = list(getattr(forkserver._forkserver, "_preload_modules", []))  # another caller's, kept
    ctx.set_forkserver_preload(preload + [m for m in (__name__, fn.__module__) if m not in preload])
    return ctx


def map_seeds(fn: Callable, args: tuple, seeds: Sequence[int], *, workers: int, threads: int, view: ProgressView) -> list[Any]:
    """Call `fn(*args, seed, reporter)` for every seed; results in seed order. Exceptions propagate."""
    if workers <= 1 or len(seeds) <= 1:
        _init_worker(threads)
        _freeze_heap()
        try:
            return [fn(*args, s, Reporter(view.handle, f"seed {s}")) for s in seeds]
        finally:
            gc.unfreeze()  # this process goes on (a test, the next study): its objects are collectable again
    ctx = worker_context(fn)
    with ctx.Manager() as manager, _drain(manager.Queue(), view) as q:
        with ProcessPoolExecutor(max_workers=min(workers, len(seeds)), mp_context=ctx, initializer=_init_worker,
                                 initargs=(threads, dict(os.environ), os.getcwd())) as pool:
            futures = {pool.submit(_run_one, fn, args, s, q): s for s in seeds}
            results: dict[int, Any] = {}
            try:
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
            except BaseException:  # Ctrl-C, or a seed that failed
                for f in futures:
                    f.cancel()
                _stop_workers(pool)
                raise
    return [results[s] for s in seeds]


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the pool's workers now. Cancelling futures is not enough: the pool hands seeds to its
    workers ahead of time (up to one more than it has workers), and a seed handed on cannot be
    cancelled, so Ctrl-C, or a seed that failed, would otherwise wait minutes for the remaining seeds
    to train. Safe: every file is written atomically and every stage resumes where it stopped."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):  # private, but stable since 3.8
        if process.is_alive():
            process.terminate()


@contextlib.contextmanager
def _drain(q, view: ProgressView) -> Iterator:
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set() or not q.empty():
            try:
                view.handle(q.get(timeout=0.1))
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield q
    finally:
        stop.set()
        t.join(timeout=5)
