"""`SharedRevision`: a revision of the store that counts every process's writes, not only ours.

The read models a server process keeps in memory (the keyword index, the workflow digest) are
rebuilt when the store "moved". `DecisionStore.revision()` moves at once after this process's own
writes, but it cannot see the writes of the other processes sharing a Chroma server (workers,
replicas). `SharedRevision.revision()` adds those: at most once per `poll_s` a call asks the
store for what was written since the last look (`DecisionStore.changes(cursor)`, the change feed
the browse catalogue follows too) and counts what it had not seen.

So a cache comparing this number sees its own process's writes at once and another process's
within `poll_s` (plus the store's commit of that write), with one small read per half `poll_s`
while requests come, made behind them (`domain.refresher`: a caller reads only after an idle
spell longer than `poll_s`). "Had not seen": `changes` looks back a little (a write stamped early
and committed late is not skipped), so the same change comes again; a change counts when its
`(id, rev)` was not in the previous answer. The windows only move forward, so whatever was
visible at the previous look and is inside the current window was in the previous answer:
anything else is new.

This process's own writes come through the feed too, and `DecisionStore.revision()` has already
counted them. The write path tells the shared revision of them (`writing`), and a look counts a
change only when it is not one of those. Before, it counted them again, so the revision moved by
about twice the writes this process reported: the keyword index took that for another process's
writes and rebuilt by scanning every record (1.4 s at 2,000 decisions under the mixed load)
instead of from the decisions it holds. An own write the feed never shows (overwritten before a
look) is forgotten after `OWN_KEPT_S`.

The first look reads the whole feed once (cursor 0), in the background, so no request waits
behind it; until it has finished only this process's writes count, and when it has, the revision
moves once (a cache built from a scan before it is rebuilt, in case another process wrote between
that scan and the look). A failed look is logged and retried at the next poll; the number never goes
backwards.

Thread safety: `_lock` guards the cursor, the last answer's keys and the count; one look runs at a
time (the refresher's; a caller that finds one running does not wait, it answers with what is
known).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from cstp.domain.facts import DecisionFacts, facts_of
from cstp.domain.ports import DecisionStore
from cstp.domain.records import Decision
from cstp.domain.refresher import Refresher

POLL_S = 1.0
# How long an own write waits to be seen in the feed before it is forgotten: well beyond the
# feed's look-back and a write's timeout, so only a change the feed never shows is dropped.
OWN_KEPT_S = 120.0
logger = logging.getLogger("cstp.shared_revision")


class SharedRevision:
    def __init__(
        self,
        store: DecisionStore,
        *,
        poll_s: float = POLL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._poll_s = poll_s
        self._clock = clock
        self._lock = threading.Lock()
        self._refresher = Refresher(self._look, name="cstp-change-feed", clock=clock)
        self._cursor: int | None = None  # None: the first (full) look has not finished
        self._seen: frozenset[tuple[str, int, int]] = frozenset()
        self._remote = 0  # changes seen in the feed and not made through this process's store
        self._looked_at = float("-inf")
        self._first_started = False
        self._own: dict[tuple[str, int, int], float] = {}  # own writes not seen yet → when written

    def start(self) -> None:
        """Start the first look now (at startup) rather than at the first call: it reads the whole
        feed, and under the first requests' load that read and the keyword rebuild it causes held
        the interpreter lock in long stretches (every kind's slowest requests came in the first
        two seconds of the mixed load)."""
        self._start_first_look(retry_wait=False)

    def revision(self) -> int:
        """Grows after every write through this process's store (at once) and after every write
        another process made, once a look has seen it (within `poll_s` of a call)."""
        own = self._store.revision()
        if self._cursor is None:
            self._start_first_look(retry_wait=True)
        else:
            self._refresher.ensure(self._poll_s)
        with self._lock:
            return own + self._remote

    def _start_first_look(self, *, retry_wait: bool) -> None:
        """Start the first look in the background unless it runs or ran; `retry_wait`: not sooner
        than `poll_s` after a failed one."""
        with self._lock:
            if self._first_started or self._cursor is not None:
                return
            if retry_wait and self._clock() - self._looked_at < self._poll_s:
                return
            self._first_started = True
        threading.Thread(target=self._first_look, name="cstp-change-feed", daemon=True).start()

    @contextmanager
    def writing(self, decisions: Sequence[Decision]) -> Iterator[None]:
        """Around this process's store write of `decisions`: the looks do not count them (see the
        module docstring). Registered before the write, since a look may see it before the block
        returns; a write that fails is unregistered."""
        keys = _keys(facts_of(d) for d in decisions)
        now = self._clock()
        with self._lock:
            for key in keys:
                self._own[key] = now
        try:
            yield
        except BaseException:
            with self._lock:
                for key in keys:
                    self._own.pop(key, None)
            raise

    def _first_look(self) -> None:
        try:
            began = self._clock()
            changes = self._store.changes(0)
            with self._lock:
                self._cursor = changes.cursor
                self._seen = _keys(changes.facts)
                # A cache built before this look may miss a write it reported as already
                # seen: one move makes every cache rebuild once from here.
                self._remote += 1
            self._refresher.fresh_since(began)
        except Exception:  # the store is down: the next due call starts it again
            logger.warning("reading the change feed failed; retrying", exc_info=True)
            with self._lock:
                self._first_started = False
                self._looked_at = self._clock()

    def _look(self) -> None:
        """One look at the feed since the cursor (run by the refresher, one at a time). A failed
        look is logged and counts as a look: the next one is due a poll later, as before."""
        with self._lock:
            cursor = self._cursor
        assert cursor is not None
        try:
            changes = self._store.changes(cursor)
        except Exception:
            logger.warning("reading the change feed failed; retrying", exc_info=True)
            return
        keys = _keys(changes.facts)
        with self._lock:
            own = self._own
            new = sum(1 for key in keys - self._seen if own.pop(key, None) is None)
            self._cursor, self._seen = changes.cursor, keys
            self._remote += new
            self._forget_own(self._clock() - OWN_KEPT_S)

    def _forget_own(self, before: float) -> None:
        """Drop own writes registered before `before` (under `_lock`; oldest first by insertion)."""
        own = self._own
        while own:
            key, at = next(iter(own.items()))
            if at >= before:
                return
            del own[key]


def _keys(facts: Iterable[DecisionFacts]) -> frozenset[tuple[str, int, int]]:
    """What tells two reports of a record apart: its id, rev, and a hash of its listed facts."""
    return frozenset((f.id, f.rev, hash(f)) for f in facts)
