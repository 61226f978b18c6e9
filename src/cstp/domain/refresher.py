"""`Refresher`: keep an in-memory read model caught up with the store without making requests wait.

The browse catalogue and the shared revision follow the store's change feed (what other server
processes wrote). A read of the feed takes 10-20 ms on an idle Chroma server at 2,000 decisions,
but 200 ms and more under load, and the request that happened to pay for it became the tail:
under 32 writing and querying clients, one list-mode query a second read the feed and list mode's
p99 was six times its median (docs/PERFORMANCE.md, "Mixed load").

So a model asks `ensure(lag_s)` before it answers, and:

- younger than half its bound: nothing is read;
- between half the bound and the bound: a read starts in the background and the caller answers
  at once from the model as it is;
- older than the bound (nobody asked for a while, or the reads fail): the caller reads itself,
  so what another process wrote before an idle spell is seen by the first request after it.

While callers keep asking, the background keeps the model fresh on its own: after a read, the
worker waits until the model is half a bound old and reads again if anyone asked since that read
began (the timing follows the smallest bound asked). Before, only a caller arriving past half the
bound started a read, so a gap of half a second between two list-mode queries under load let the
model pass its bound and the next query read the feed itself (60-290 ms, four of 150 list
queries in a 30 s run: list mode's p99). When nobody asked during an interval the worker stops,
and the first caller after the pause starts it again (or reads itself, past the bound).

One read runs at a time: a caller finding one running answers at once, from the model as it is
(at most the bound plus one read old). Age counts from when the last successful read began,
since a read holds every write that landed before it started. A read that fails in the
background is logged, leaves the age growing and stops the worker until a caller asks again, so
the next caller past the bound reads itself and sees the error (and a down store is not polled).

Background reads run on one daemon thread per refresher, started on first use and then woken by
a flag or by its own timer: starting a thread per read made the caller wait for the new thread
to take the interpreter lock and report itself started, under load a wait as long as a request.

Thread safety: `_running` is held for the duration of a read (acquired by the thread that asks for
it or by the worker, released by the one that ran it); `_wake` hands a background read to the
worker and times its next one; `_fresh_at` is one float, written after a read; `_asked_lag` (the
smallest bound asked since the last read began, or None) is one reference, written by callers
without a lock: a lost update changes one interval of the worker's cadence, not what it reads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cstp.domain.errors import CstpError
from cstp.domain.waiting import may_wait

logger = logging.getLogger("cstp.refresher")

# A read is due but a caller's runs: the worker looks again this much later.
_BUSY_RETRY_S = 0.01


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
        self._asked_lag: float | None = None
        self._last_lag = 0.0

    def fresh_since(self, began: float) -> None:
        """The model holds every write before `began` (a full load that began then)."""
        self._fresh_at = began

    def age(self) -> float:
        return self._clock() - self._fresh_at

    def ensure(self, lag_s: float, *, now: bool = False) -> None:
        """Bring the model within `lag_s` as the module docstring says; `now`: read whatever the
        age (the model knows it misses a write), in the caller unless a read is running."""
        self._last_lag = lag_s
        asked = self._asked_lag
        if asked is None or lag_s < asked:
            self._asked_lag = lag_s
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
                may_wait()  # the caller reads: not on the event loop (domain.waiting)
                self._run()
        finally:
            self._running.release()

    def read_now(self) -> None:
        """Bring the model up to a read that began after this call: one already running is
        waited for and then read again unless it began since; for a caller that must see what was
        written before it asked (a short id another process just wrote), whatever the lag bound."""
        asked = self._clock()
        may_wait()
        with self._running:
            if self._fresh_at <= asked:  # no read began since the caller asked
                self._run()

    def _run(self) -> None:
        began = self._clock()
        self._asked_lag = None  # who asks from now on decides whether the worker reads again
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
            kept = self._in_background()
            while kept and self._keep_fresh():
                kept = self._in_background()

    def _keep_fresh(self) -> bool:
        """Wait until the model is half a bound old (the smallest asked since the last read
        began, else the last asked); then True if anyone asked meanwhile, the worker holding
        `_running` for one more read, or False: nobody asked, the worker waits for a caller."""
        with self._wake:
            while True:
                if self._wanted:  # a caller past half the bound handed a read over meanwhile
                    self._wanted = False
                    return True
                asked = self._asked_lag
                due_in = self._fresh_at + (self._last_lag if asked is None else asked) / 2 - self._clock()
                if due_in > 0:
                    self._wake.wait(due_in)
                elif asked is None:
                    return False
                elif self._running.acquire(blocking=False):
                    return True
                else:  # a caller's own read runs (past the bound): look again when it may be done
                    self._wake.wait(_BUSY_RETRY_S)

    def _in_background(self) -> bool:
        """One read on the worker (which holds `_running`); whether it succeeded."""
        try:
            self._run()
            return True
        except CstpError as e:  # the store is down or slow: the next caller past the bound retries
            logger.warning("background refresh failed", extra={"model": self._name, "error": str(e)})
        except Exception:
            logger.exception("background refresh failed", extra={"model": self._name})
        finally:
            self._running.release()
        return False
