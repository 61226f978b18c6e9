"""`Refresher`: keep an in-memory read model caught up with the store without making requests wait.

The browse catalogue and the shared revision follow the store's change feed (what other server
processes wrote). A read of the feed takes 10-20 ms on an idle Chroma server at 2,000 decisions,
but 200 ms and more under load, and the request that happened to pay for it became the tail:
under 32 writing and querying clients, one list-mode query a second read the feed and list mode's
p99 was six times its median (docs/PERFORMANCE.md, "Mixed load").

So a model asks `ensure(lag_s)` before it answers, and:

- younger than half its bound: nothing is read;
- between half the bound and the bound: a read starts in the background and the caller answers
  at once from the model as it is. Under a steady stream of requests this keeps the model fresh
  and no request reads the feed;
- older than the bound (nobody asked for a while, or the reads fail): the caller reads itself,
  so what another process wrote before an idle spell is seen by the first request after it.

One read runs at a time: a caller finding one running answers at once, from the model as it is
(at most the bound plus one read old). Age counts from when the last successful read began,
since a read holds every write that landed before it started. A read that fails in the
background is logged and leaves the age growing, so the next caller past the bound reads
itself and sees the error.

Background reads run on one daemon thread per refresher, started on first use and then woken by
a flag: starting a thread per read made the caller wait for the new thread to take the
interpreter lock and report itself started, under load a wait as long as a request.

Thread safety: `_running` is held for the duration of a read (acquired by the thread that asks for
it, released by the one that ran it); `_wake` hands a background read to the worker; `_fresh_at`
is one float, written after a read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cstp.domain.errors import CstpError

logger = logging.getLogger("cstp.refresher")


class Refresher:
    """Runs `read` (which brings the model up to date, or raises) as `ensure` decides."""

    def __init__(
        self,
        read: Callable[[], None],
        *,
        name: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._name = name
        self._clock = clock
        self._running = threading.Lock()
        self._wake = threading.Condition(threading.Lock())
        self._wanted = False
        self._worker: threading.Thread | None = None
        self._fresh_at = float("-inf")

    def fresh_since(self, began: float) -> None:
        """The model holds every write before `began` (a full load that began then)."""
        self._fresh_at = began

    def age(self) -> float:
        return self._clock() - self._fresh_at

    def ensure(self, lag_s: float, *, now: bool = False) -> None:
        """Bring the model within `lag_s` as the module docstring says; `now`: read whatever the
        age (the model knows it misses a write), in the caller unless a read is running."""
        age = self.age()
        if not now and age < lag_s / 2:
            return
        if not now and age < lag_s:
            if self._running.acquire(blocking=False):
                self._hand_to_worker()
            return
        if not self._running.acquire(blocking=False):
            return  # a read is running: answer from the model as it is
        try:
            if now or self.age() >= lag_s:  # not brought up to date by a read that just ended
                self._run()
        finally:
            self._running.release()

    def _run(self) -> None:
        began = self._clock()
        self._read()
        self._fresh_at = began

    def _hand_to_worker(self) -> None:
        """Wake the worker for one read (the caller holds `_running`; the worker releases it)."""
        with self._wake:
            self._wanted = True
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._worker.start()  # once per process: later reads are a flag and a notify
            else:
                self._wake.notify()

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._wanted:
                    self._wake.wait()
                self._wanted = False
            self._in_background()

    def _in_background(self) -> None:
        try:
            self._run()
        except CstpError as e:  # the store is down or slow: the next caller past the bound retries
            logger.warning("background refresh failed", extra={"model": self._name, "error": str(e)})
        except Exception:
            logger.exception("background refresh failed", extra={"model": self._name})
        finally:
            self._running.release()
