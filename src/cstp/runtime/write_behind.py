"""Write-behind for captured deliberation inputs: the request returns before the store write.

Capture runs inside queryDecisions and checkGuardrails (the latter on the event loop), so it may
not wait for Chroma. `WriteBehind.put` appends to a bounded in-memory queue and returns; one daemon
thread writes what is queued in batches. It lingers `linger` seconds (0.2) after the first queued
row before writing, so that a stream of calls costs a few store writes per second rather than one
per call: a Chroma upsert holds the interpreter for milliseconds (embedded Chroma most), and one per
captured call measurably slowed the calls themselves. A row therefore reaches the shared store
within `linger` plus one store write of the reply. `flush` cuts the linger short and waits until
every row put before it is written: the record path calls it, so a record on this process always
sees this process's inputs.

When the queue is full (the store is down or far slower than the request rate) new rows are
dropped and counted: capture is best effort and never fails or stalls the call it observes. Store
errors are logged and the batch dropped for the same reason. The same thread runs the tracker's
purge of expired rows every `purge_every` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from cstp.domain.errors import CstpError

logger = logging.getLogger("cstp.tracker")

T = TypeVar("T")

FLUSH_TIMEOUT = 5.0  # seconds `flush` waits at most (a hung store must not hang records forever)


class WriteBehind(Generic[T]):
    """A bounded queue drained by one writer thread (started on first use).

    Thread safety: `_cond` guards the queue and the counters.
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], None],
        *,
        capacity: int = 10_000,
        batch: int = 500,
        purge: Callable[[], object] | None = None,
        purge_every: float = 30.0,
        linger: float = 0.2,
    ) -> None:
        self._write = write
        self._capacity = capacity
        self._batch = batch
        self._purge = purge
        self._purge_every = purge_every
        self._linger = linger
        self._urgent = 0  # flushes waiting: write without lingering
        self._queue: deque[T] = deque()
        self._cond = threading.Condition()
        self._queued = 0  # rows accepted so far
        self._done = 0  # rows written (or given up) so far, in order
        self.dropped = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    def put(self, item: T) -> None:
        """Queue `item`; never blocks on I/O."""
        with self._cond:
            if self._closed or len(self._queue) >= self._capacity:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    logger.warning(
                        "tracker queue full: captured input dropped", extra={"dropped": self.dropped}
                    )
                return
            self._queue.append(item)
            self._queued += 1
            self._ensure_thread()
            # Wake the writer only when it waits for a first row or a batch is full: while it
            # lingers it wakes by itself, and a wake-up per call would cost the caller a thread
            # switch.
            if len(self._queue) == 1 or len(self._queue) >= self._batch:
                self._cond.notify_all()

    def flush(self, timeout: float = FLUSH_TIMEOUT) -> bool:
        """Wait until every item put before this call is written; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._queued
            if self._done >= target:
                return True
            self._urgent += 1  # the writer stops lingering
            self._cond.notify_all()
            try:
                while self._done < target:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._urgent -= 1

    def close(self) -> None:
        """Write what is queued (bounded by FLUSH_TIMEOUT) and stop the thread."""
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(FLUSH_TIMEOUT)

    def _ensure_thread(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="cstp-tracker-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        next_purge = time.monotonic() + self._purge_every
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    if not self._cond.wait(max(0.0, next_purge - time.monotonic())):
                        break  # purge time
                if self._closed and not self._queue:
                    return
                # Linger for more rows unless a flush waits, the batch is full or we are closing.
                until = time.monotonic() + self._linger
                while (
                    self._queue
                    and not self._urgent
                    and not self._closed
                    and len(self._queue) < self._batch
                    and (left := until - time.monotonic()) > 0
                ):
                    self._cond.wait(left)
                chunk = [self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))]
            if chunk:
                try:
                    self._write(chunk)
                except CstpError as e:
                    logger.warning("captured inputs not written", extra={"rows": len(chunk), "error": str(e)})
                except Exception:  # a bug: log it, and keep the writer alive (flushes wait on it)
                    logger.exception("captured inputs not written")
                with self._cond:
                    self._done += len(chunk)
                    self._cond.notify_all()
            if self._purge is not None and time.monotonic() >= next_purge:
                next_purge = time.monotonic() + self._purge_every
                try:
                    self._purge()
                except CstpError as e:
                    logger.warning("tracker purge failed", extra={"error": str(e)})
                except Exception:  # a bug: log it, and keep the writer alive
                    logger.exception("tracker purge failed")
