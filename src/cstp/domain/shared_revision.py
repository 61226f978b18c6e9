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
from collections.abc import Callable, Iterable

from cstp.domain.facts import DecisionFacts
from cstp.domain.ports import DecisionStore
from cstp.domain.refresher import Refresher

POLL_S = 1.0
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
            new = len(keys - self._seen)
            self._cursor, self._seen = changes.cursor, keys
            # Our own writes come through the feed too: they are already counted in
            # store.revision(), but counting them again only makes a cache rebuild once more.
            self._remote += new


def _keys(facts: Iterable[DecisionFacts]) -> frozenset[tuple[str, int, int]]:
    """What tells two reports of a record apart: its id, rev, and a hash of its listed facts."""
    return frozenset((f.id, f.rev, hash(f)) for f in facts)
