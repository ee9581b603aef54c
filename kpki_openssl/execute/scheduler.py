"""Run a plan's independent steps at the same time, and hand their results back in plan order.

A step may start once every step it depends on has been emitted: the steps named in its
`needs` (its signing CA) and the steps that make a file it reads (a kubeconfig's certificate).
The CA runs first, then everything it signs, up to `jobs` at a time. Whatever finishes first,
`emit` sees the results strictly in plan order, in the calling thread (the runner writes the
log and moves the files into place there), so the command log and the progress lines read the
same as a one-at-a-time run; the work runs in a pool's threads, so a step is emitted while the
next ones already run. After a failure no new step starts; the steps already running finish and
are emitted, so the log still records every command that ran.

This module knows nothing about openssl or files: it schedules callables over `Step`s.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from kpki_openssl.plan.steps import Step

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

R = TypeVar("R")


def dependencies(steps: Sequence[Step]) -> list[tuple[int, ...]]:
    """For each step, the positions of the earlier steps of `steps` it must wait for.

    A need outside `steps` (a CA made by an earlier run) is no dependency: its files exist.
    """
    index = {step.name: i for i, step in enumerate(steps)}
    maker: dict[str, int] = {}
    out: list[tuple[int, ...]] = []
    for i, step in enumerate(steps):
        deps = {index[n] for n in step.needs if n in index and index[n] < i}
        deps.update(maker[p] for p in step.reads if p in maker)
        out.append(tuple(sorted(deps)))
        for path in step.writes:
            maker.setdefault(path, i)
    return out


class Outcome(Generic[R]):
    """What one step's work returned, or the exception it raised."""

    __slots__ = ("value", "error")

    def __init__(self, value: R | None = None, error: BaseException | None = None) -> None:
        self.value = value
        self.error = error


class _NotStarted:
    """What a step handed to the pool returns when a failure came first: it never ran."""


_NOT_STARTED = _NotStarted()


def run_in_order(
    steps: Sequence[Step],
    work: Callable[[Step], R],
    jobs: int,
    emit: Callable[[Step, R], None],
    failed: Callable[[R], bool] = lambda _r: False,
    started: Callable[[Step], None] = lambda _s: None,
    finished: Callable[[Step], None] = lambda _s: None,
    inline: Callable[[Step], bool] = lambda _s: False,
    prepare: Callable[[Step], None] = lambda _s: None,
) -> list[R | None]:
    """Run `work(step)` for every step, at most `jobs` at once, respecting dependencies.

    `emit` is called in plan order, from the calling thread, for every step that ran.
    `started`/`finished` are called (from the calling thread) as steps start and end, in
    whatever order that happens: they are for progress display. `prepare` is called (from the
    calling thread) before a step can start, once the steps it depends on are emitted.

    Work runs in a pool of `jobs` threads, so a finished step is emitted while the next ones
    run (with jobs=1 too: one step's work at a time, the emitting of the previous one beside
    it). Up to `jobs` more ready steps wait in the pool's queue, so a thread that finishes one
    step starts the next at once; a step that waited there does not start after a failure. A
    step for which `inline` is true (work that costs next to nothing, such as a step already
    built) runs in the calling thread instead, and a run of only such steps starts no thread.
    Returns each step's result (None for a step never started because an earlier one failed).
    An exception raised by `work` is re-raised once everything running has finished and been
    emitted.
    """
    import threading

    jobs = max(jobs, 1)
    n = len(steps)
    deps = dependencies(steps)
    waiting = [len(d) for d in deps]
    dependents: list[list[int]] = [[] for _ in steps]
    for i, ds in enumerate(deps):
        for d in ds:
            dependents[d].append(i)
    ready = [i for i in range(n) if waiting[i] == 0]
    heapq.heapify(ready)  # the earliest ready step in plan order starts first
    outcomes: list[Outcome[R] | None] = [None] * n
    emitted = 0
    stop = False
    stopped = threading.Event()  # `stop`, for the pool's threads
    began = [False] * n  # set by a pool thread as it starts the step
    shown = [False] * n  # `started` was called for it
    queued: dict[Future, int] = {}  # handed to the pool: running, or waiting for a thread
    pool: ThreadPoolExecutor | None = None

    def run(i: int, queued_ahead: bool) -> R | _NotStarted:
        if queued_ahead and stopped.is_set():
            return _NOT_STARTED
        began[i] = True
        try:
            value = work(steps[i])
        except BaseException:
            stopped.set()
            raise
        if failed(value):
            stopped.set()
        return value

    def show(i: int) -> None:
        if not shown[i]:
            shown[i] = True
            started(steps[i])

    def halt() -> None:
        nonlocal stop
        stop = True
        stopped.set()

    def settle(i: int, outcome: Outcome[R]) -> None:
        outcomes[i] = outcome
        show(i)
        finished(steps[i])
        if outcome.error is not None or failed(outcome.value):  # type: ignore[arg-type]
            halt()

    def flush(upto_gap: bool) -> None:
        """Emit finished steps in plan order; stop at the first unfinished one if upto_gap.
        A step emitted without failing lets the steps that depend on it start."""
        nonlocal emitted
        while emitted < n:
            i, outcome = emitted, outcomes[emitted]
            if outcome is None:
                if upto_gap:
                    return
            elif outcome.error is None:
                emit(steps[i], outcome.value)  # type: ignore[arg-type]
                if failed(outcome.value):  # type: ignore[arg-type]
                    halt()  # (emit may find a failure too)
                else:
                    for j in dependents[i]:
                        waiting[j] -= 1
                        if waiting[j] == 0:
                            heapq.heappush(ready, j)
            emitted += 1

    def start_ready() -> None:
        nonlocal pool
        while ready and not stop and len(queued) < 2 * jobs:
            i = heapq.heappop(ready)
            prepare(steps[i])
            if inline(steps[i]):
                try:
                    settle(i, Outcome(value=work(steps[i])))
                except Exception as exc:
                    settle(i, Outcome(error=exc))
                continue
            if pool is None:
                from concurrent.futures import ThreadPoolExecutor

                pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="kpki-step")
            queued[pool.submit(run, i, len(queued) >= jobs)] = i

    def collect(future: Future) -> None:
        i = queued.pop(future)
        error = future.exception()
        if error is not None:
            settle(i, Outcome(error=error))
        elif future.result() is not _NOT_STARTED:
            settle(i, Outcome(future.result()))

    try:
        while True:
            start_ready()
            flush(upto_gap=True)
            if ready and not stop and len(queued) < 2 * jobs:
                continue  # what was emitted let more steps start
            if not queued:
                break
            from concurrent.futures import FIRST_COMPLETED, wait

            done, _ = wait(queued, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=queued.__getitem__):
                collect(future)
            for i in sorted(queued.values()):
                if began[i]:
                    show(i)
            start_ready()  # what is ready is queued before the finished steps are emitted
    except BaseException:
        # Ctrl-C while waiting: start nothing new, let running steps end (their
        # openssl got the same signal), record what finished, then stop.
        halt()
        for future in list(queued):
            collect(future)
        flush(upto_gap=False)
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    flush(upto_gap=False)
    for outcome in outcomes:
        if outcome is not None and outcome.error is not None:
            raise outcome.error
    return [o.value if o is not None else None for o in outcomes]
