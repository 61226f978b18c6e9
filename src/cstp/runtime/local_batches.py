"""The tracker sink of a server whose tracker rows live in process memory (embedded Chroma, or
the memory store): captured items are held and written in batches, on the request thread.

Why not `DirectSink`: it writes each captured input as it comes, so every observed call went
through `Tracker.apply` (packing, a store row, the store's lock) for inputs that are mostly never
read. Why not the write-behind thread: with nothing slow to hide, a second thread would only add
wake-ups and GIL hand-offs. Here one call in `batch` writes the batch: the tracker groups the
noted tuples into one row per agent and key and builds nothing (`Tracker(keep_noted=True)`).

Every read of the tracker (`take`, `inputs`, `history`) flushes first, so a record always sees
what was captured before it, on any thread: the batch is written while the lock is held, so a
flush returns only once every item put before it is in the store, even one another thread's
batch is writing at that moment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

BATCH = 64  # items held at most; the call that fills the batch writes it


class LocalBatches(Generic[T]):
    """A bounded list of items, written `batch` at a time by whichever call fills it.

    Thread safety: `_lock` guards the list and is held while a batch is written (see module).
    """

    def __init__(self, write: Callable[[Sequence[T]], None], *, batch: int = BATCH) -> None:
        self._write = write
        self._batch = batch
        self._items: list[T] = []
        self._lock = threading.Lock()

    def put(self, item: T) -> None:
        """Hold `item`; the call that makes the batch full writes it."""
        with self._lock:
            self._items.append(item)
            if len(self._items) >= self._batch:
                self._drain()

    def flush(self) -> None:
        """Return once every item put before the call is written."""
        with self._lock:
            self._drain()

    def pending(self) -> int:
        with self._lock:
            return len(self._items)

    def _drain(self) -> None:
        items, self._items = self._items, []
        if items:
            self._write(items)
