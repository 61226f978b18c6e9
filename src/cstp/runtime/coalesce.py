"""Group commit: concurrent calls to a batch function are served by one call.

The embedder and the store both cost far less per item in a batch than one item at a time. Callers
(request threads) `submit` their items and wait; one worker thread per coalescer runs the batch
function on everything queued at that moment, hands each caller its results, and takes the next
batch at once. No timer is involved, so a lone request pays only two thread wake-ups, and under
load batches grow by themselves.

Why a worker thread rather than a caller leading the batch: leadership used to pass from caller
to caller, and each hand-over waited for the next leader thread to wake up and win the
interpreter lock from every other request thread (woken all at once by `notify_all`). Under 32
concurrent clients on two cores that stalled the embedding half of the time (py-spy: the batch
function running 0.56 of the wall time with 7 callers queued on average). The worker never waits
for a wake-up while work is queued; each caller waits on its own event, woken only when its
results are in.

One caller's bad items must not fail the others (a record the store refuses is that record's
problem): when a batch of several callers fails, each caller's items are retried alone, so every
caller gets the outcome of its own items. `isolate(exc)` may decline the retry for failures that
say nothing about the items (a dependency that is down or timing out would only fail again, once
per caller).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from cstp.domain.waiting import may_wait

T = TypeVar("T")
R = TypeVar("R")


class _Entry(Generic[T, R]):
    __slots__ = ("items", "results", "error", "done")

    def __init__(self, items: Sequence[T]) -> None:
        self.items = items
        self.results: list[R] = []
        self.error: BaseException | None = None
        self.done = threading.Event()


class Coalescer(Generic[T, R]):
    """Serve concurrent `submit(items)` calls with batched calls of `fn(items) -> results`."""

    def __init__(
        self,
        fn: Callable[[list[T]], list[R]],
        max_batch: int = 64,
        isolate: Callable[[BaseException], bool] = lambda exc: True,
        name: str = "cstp-coalesce",
    ) -> None:
        self._fn = fn
        self._max_batch = max_batch
        self._isolate = isolate
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[_Entry[T, R]] = deque()
        self._worker: threading.Thread | None = None
        self._closed = False

    def submit(self, items: Sequence[T]) -> list[R]:
        """Run `fn` over `items` (possibly together with other callers' items); return its results.
        A wait for the batch: not on the event loop (`domain.waiting`)."""
        may_wait()
        entry: _Entry[T, R] = _Entry(items)
        with self._cond:
            inline = self._closed
            if not inline:
                self._queue.append(entry)
                if self._worker is None:
                    # Started on first use; a daemon: it holds no acknowledged work of its own
                    # (every caller waits for its own entry), so it never delays the process exit.
                    self._worker = threading.Thread(target=self._work, name=self._name, daemon=True)
                    self._worker.start()
                else:
                    self._cond.notify()
        if inline:  # closed (shutting down): no worker any more, the caller runs its own batch
            self._run([entry])
        else:
            entry.done.wait()
        if entry.error is not None:
            raise entry.error
        return entry.results

    def close(self) -> None:
        """Let the worker finish what is queued, then exit; later submits run in their own thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _take_batch(self) -> list[_Entry[T, R]]:
        batch: list[_Entry[T, R]] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].items) <= self._max_batch):
            e = self._queue.popleft()
            batch.append(e)
            size += len(e.items)
        return batch

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    if self._closed:
                        self._worker = None
                        return
                    self._cond.wait()
                batch = self._take_batch()
            try:
                self._run(batch)  # never raises: every outcome lands in the entries
            finally:
                for e in batch:
                    e.done.set()

    def _run(self, batch: list[_Entry[T, R]]) -> None:
        """Fill each entry's results or error; a failed shared batch is retried caller by caller."""
        flat = [item for e in batch for item in e.items]
        try:
            results = self._fn(flat) if flat else []
        except Exception as exc:
            if len(batch) == 1 or not self._isolate(exc):
                for e in batch:
                    e.error = exc
                return
            for e in batch:
                try:
                    e.results = self._fn(list(e.items))
                except Exception as own:
                    e.error = own
            return
        except BaseException as exc:  # KeyboardInterrupt and the like: every waiter sees it
            for e in batch:
                e.error = exc
            return
        offset = 0
        for e in batch:
            e.results = results[offset : offset + len(e.items)]
            offset += len(e.items)
