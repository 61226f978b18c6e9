"""Admission control for writes: refuse a write at once rather than queue it past a bound.

A recorded decision is embedded and stored through group commits (`runtime.coalesce`). When writes
arrive faster than the embedder and the store can take them, the queue grows and every write waits
longer: measured with 32 closed-loop clients on two cores, recordDecision took 4-6 s at the median
and up to 10 s, while the write was acknowledged only at the end. A client cannot tell such a wait
from a hung server. So a write whose expected wait exceeds `max_wait` is refused before it starts
(`domain.Busy`, a retryable JSON-RPC error with a retry hint): nothing was stored, nothing was
acknowledged, so nothing is lost, and the client decides whether to retry, back off or drop it.

A write is admitted when it is expected to be done within the bound: its wait behind the writes
already in flight plus its own share of the write path, that is (in flight + 1) times the time
the write path takes per write while it is busy, times how far such estimates fell short lately
(below). (Counting the wait alone let a write admitted
at the bound finish a whole service time past it: 2.0-2.4 s at a bound of 1 s under the mixed
load, docs/PERFORMANCE.md.) That time per write is measured, not configured: the interval
between consecutive completions, counted only when writes were in flight throughout (an interval
that contains idle time says nothing about the service rate), averaged over the last `WINDOW`
completions; a write that ran alone from start to end counts its own duration instead (no idle
time in it either, and without it an estimate above half the bound would never be measured
again: no two writes would overlap). A batch of five finishing
together gives intervals (t, 0, 0, 0, 0): their mean is t/5, the per-write time of that batch.
The estimate follows whatever limits writes (embedding, Chroma, the interpreter lock, other
requests' CPU) without knowing which.

That estimate is a mean, and the write path's pace moves under it (a keyword-index rebuild, a
change-feed read, another process's batch): measured under the mixed load, an admitted write took
1.05 times its estimate at the median but 1.5 times at the 90th percentile and 2 times at the
99th, so with a 1 s bound the slowest admitted writes took 1.4-1.5 s in the write path (and
1.7-2.3 s end to end). So each admitted write's duration is compared with what its admission
expected, and the estimate is multiplied by the `SHORTFALL_QUANTILE` of those ratios over the
last `WINDOW` writes (never by less than 1, and only once `SHORTFALL_MIN` are known): the bound
holds for nine admitted writes in ten rather than for one in two.

A refused write is told when to come back (`Busy.retry_after`): when the queue should have drained
to the bound, and not sooner than one write; and, when writes were refused before it, one write's
time after the turn the last of them was given, so that the refused writes come back one write
apart, at the pace the write path takes them, instead of together. Told only when the queue
drains, every refused client came back at once and all but one were refused again: under the mixed
load (docs/PERFORMANCE.md) 2,600 refusals per 30 s for about 210 accepted writes, two thirds of
every request the server answered; with the line, 310-370, and the cheapest query's median and p99
halved. The line is only advice (a write is admitted whenever the estimate allows it, whoever
sends it), and no turn is given more than `HINT_MAX_S` ahead, so clients that ignore the hint or
give up do not push the others' turns out without bound.

A write that finds nothing in flight is always admitted, so a slow dependency slows writes down
but never refuses them all; until a first interval is
measured, at most `UNMEASURED_IN_FLIGHT` writes are in flight at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cstp.domain.errors import Busy

logger = logging.getLogger("cstp.admission")

WINDOW = 64  # completions the service time is averaged over
# Writes admitted at once before any service time is measured (a cold start, or a first burst).
# Measured: 32 clients starting together right after /ready sent seven records in the first 0.4 s
# and, all admitted, the first of them took 5 s (the model's first batches are slow). Two would
# keep that burst under the bound, but would refuse the third of three writes a small fleet sends
# at start, which a client that does not retry sees as a failure; eight admits such a fleet (one
# group-commit batch) and still bounds a cold burst.
UNMEASURED_IN_FLIGHT = 8
# The estimate is scaled by this quantile of (actual ÷ expected) over the last WINDOW admitted
# writes, once SHORTFALL_MIN are known (see the module docstring).
SHORTFALL_QUANTILE = 0.9
SHORTFALL_MIN = 16
HINT_MAX_S = 10.0  # the longest retry hint given (the line a hint keeps is never longer)
LOG_EVERY_S = 10.0  # refusals are logged in summary, at most once per this many seconds


class WriteAdmission:
    """Counts writes in flight and refuses one whose expected wait would exceed `max_wait` seconds.

    Thread safety: every field is read and changed under `_lock`; `slot()` may be entered from any
    number of request threads.
    """

    def __init__(self, max_wait: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_wait <= 0:
            raise ValueError("max_wait must be positive (leave admission out to disable it)")
        self._max_wait = max_wait
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._last_done: float | None = None
        self._busy_since_last = False  # writes were in flight ever since the last completion
        self._intervals: deque[float] = deque(maxlen=WINDOW)
        self._interval_sum = 0.0
        self._shortfalls: deque[float] = deque(maxlen=WINDOW)  # actual ÷ expected, per write
        self._correction = 1.0  # SHORTFALL_QUANTILE of _shortfalls, at least 1
        self._refused = 0  # since the last summary log line
        self._refused_total = 0
        self._refused_logged_at = 0.0
        self._next_turn = float("-inf")  # when the next refused write is told to come back

    @property
    def max_wait(self) -> float:
        return self._max_wait

    @property
    def in_flight(self) -> int:
        """Writes admitted and not finished (a metric)."""
        return self._in_flight

    @property
    def refused_total(self) -> int:
        """Writes refused since start (a metric)."""
        return self._refused_total

    def expected_wait(self) -> float:
        """Seconds a write arriving now would wait for the writes in flight, by the estimate."""
        with self._lock:
            return self._wait_locked()

    def _mean_locked(self) -> float | None:
        """The mean seconds of the write path per write (see the module docstring); None: nothing
        measured."""
        return self._interval_sum / len(self._intervals) if self._intervals else None

    def _per_write_locked(self) -> float | None:
        """`_mean_locked`, corrected by how far the estimate fell short lately."""
        mean = self._mean_locked()
        return None if mean is None else self._correction * mean

    def _wait_locked(self) -> float:
        per_write = self._per_write_locked()
        return 0.0 if per_write is None else self._in_flight * per_write

    def _admissible_locked(self) -> bool:
        if self._in_flight == 0:
            return True
        per_write = self._per_write_locked()
        if per_write is None:
            return self._in_flight < UNMEASURED_IN_FLIGHT
        return (self._in_flight + 1) * per_write <= self._max_wait

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Admit one write for the duration of the block, or raise `Busy` before it starts."""
        alone, expected = self._admit()
        started = self._clock()
        try:
            yield
        finally:
            self._done(started, alone, expected)

    def _admit(self) -> tuple[bool, float | None]:
        """Admit or raise `Busy`; (whether the write found nothing in flight, the seconds the
        estimate gave it before the correction, None when unmeasured)."""
        with self._lock:
            if self._admissible_locked():
                mean = self._mean_locked()
                expected = None if mean is None else (self._in_flight + 1) * mean
                self._in_flight += 1
                return self._in_flight == 1, expected
            wait = self._wait_locked()
            self._refused += 1
            self._refused_total += 1
            refused = self._refused
            now = self._clock()
            log = now - self._refused_logged_at >= LOG_EVERY_S
            if log:
                self._refused_logged_at = now
                self._refused = 0
            in_flight = self._in_flight
            # Unmeasured: the bound itself is the only time scale there is.
            measured = self._per_write_locked()
            per_write = self._max_wait if measured is None else measured
            # When the queue should have drained to the bound, and not sooner than one write; and
            # one write after the turn the last refused write was given (the module docstring).
            drained = now + max(wait + per_write - self._max_wait, per_write)
            turn = min(max(self._next_turn, drained), now + HINT_MAX_S)
            self._next_turn = turn + per_write
        if log:
            logger.warning(
                "writes refused: write queue over its bound",
                extra={
                    "refused": refused,
                    "in_flight": in_flight,
                    "expected_wait_s": round(wait, 3),
                    "max_wait_s": self._max_wait,
                },
            )
        raise Busy(turn - now)

    def _done(self, started: float, alone: bool, expected: float | None) -> None:
        """One write ended: it started at `started`, found nothing in flight if `alone`, and was
        expected to take `expected` seconds by the uncorrected estimate (None: unmeasured)."""
        now = self._clock()
        with self._lock:
            if expected is not None and expected > 0:
                self._shortfalls.append((now - started) / expected)
                if len(self._shortfalls) >= SHORTFALL_MIN:
                    ratios = sorted(self._shortfalls)
                    self._correction = max(1.0, ratios[int(SHORTFALL_QUANTILE * (len(ratios) - 1))])
            interval: float | None = None
            if self._busy_since_last and self._last_done is not None:
                interval = max(0.0, now - self._last_done)
            elif alone and self._in_flight == 1:  # alone from start to end
                interval = max(0.0, now - started)
            if interval is not None:
                if len(self._intervals) == self._intervals.maxlen:
                    self._interval_sum -= self._intervals[0]
                self._intervals.append(interval)
                self._interval_sum += interval
            self._in_flight -= 1
            self._last_done = now
            self._busy_since_last = self._in_flight > 0
