"""`BreakerStore` in process memory: tests, and the reference the Chroma adapter is held to.

Several services (standing in for server processes) may share one `MemoryBreakers`, which is how
tests model processes sharing one database.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence

from cstp.domain.breakers.state import BreakerEvent
from cstp.domain.errors import StoreUnavailable


class MemoryBreakers:
    """Thread safety: every method holds `_lock`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, BreakerEvent] = {}
        self.fail = False  # tests: make every call raise StoreUnavailable

    def append(self, events: Sequence[BreakerEvent]) -> None:
        with self._lock:
            self._check()
            self._events.update((e.id, e) for e in events)

    def insert_if_absent(self, event: BreakerEvent) -> BreakerEvent:
        with self._lock:
            self._check()
            return self._events.setdefault(event.id, event)

    def events(self, scopes: Collection[str]) -> list[BreakerEvent]:
        wanted = set(scopes)
        with self._lock:
            self._check()
            return [e for e in self._events.values() if e.scope in wanted]

    def delete(self, event_ids: Collection[str]) -> None:
        with self._lock:
            self._check()
            for event_id in event_ids:
                self._events.pop(event_id, None)

    def _check(self) -> None:
        if self.fail:
            raise StoreUnavailable("breaker store down (test)")
