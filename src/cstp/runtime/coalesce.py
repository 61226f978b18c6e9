"""Group commit: concurrent calls to a batch function are served by one call.

The embedder and the store both cost far less per item in a batch than one item at a time. Callers
(request threads) `submit` their items; the first caller becomes the leader and runs the batch
function on everything queued at that moment, while later callers wait. When the leader's batch is
done it hands leadership to the oldest waiter. No timer is involved, so a lone request pays no extra
latency, and under load batches grow by themselves.

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

T = TypeVar("T")
R = TypeVar("R")


class _Entry(Generic[T, R]):
    __slots__ = ("items", "results", "error", "done", "promoted")

    def __init__(self, items: Sequence[T]) -> None:
        self.items = items
        self.results: list[R] = []
        self.error: BaseException | None = None
        self.done = False
        self.promoted = False


class Coalescer(Generic[T, R]):
    """Serve concurrent `submit(items)` calls with batched calls of `fn(items) -> results`."""

    def __init__(
        self,
        fn: Callable[[list[T]], list[R]],
        max_batch: int = 64,
        isolate: Callable[[BaseException], bool] = lambda exc: True,
    ) -> None:
        self._fn = fn
        self._max_batch = max_batch
        self._isolate = isolate
        self._cond = threading.Condition()
        self._queue: deque[_Entry[T, R]] = deque()
        self._busy = False

    def submit(self, items: Sequence[T]) -> list[R]:
        """Run `fn` over `items` (possibly together with other callers' items); return its results."""
        entry: _Entry[T, R] = _Entry(items)
        with self._cond:
            self._queue.append(entry)
            if self._busy:
                while not entry.done and not entry.promoted:
                    self._cond.wait()
            else:
                self._busy = True
                entry.promoted = True
        if not entry.done:
            self._lead(entry)
        if entry.error is not None:
            raise entry.error
        return entry.results

    def _take_batch(self) -> list[_Entry[T, R]]:
        batch: list[_Entry[T, R]] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].items) <= self._max_batch):
            e = self._queue.popleft()
            batch.append(e)
            size += len(e.items)
        return batch

    def _lead(self, own: _Entry[T, R]) -> None:
        while True:
            with self._cond:
                batch = self._take_batch()
            self._run(batch)
            with self._cond:
                for e in batch:
                    e.done = True
                if own.done:
                    if self._queue:
                        self._queue[0].promoted = True
                    else:
                        self._busy = False
                    self._cond.notify_all()
                    return
                self._cond.notify_all()

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
