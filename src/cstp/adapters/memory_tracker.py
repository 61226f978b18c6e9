"""`TrackerStore` in process memory: tests, and a server whose decision store is in memory."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from cstp.domain.tracker import Kind, TrackerRow


class MemoryTracker:
    """Rows in a dict. Thread safety: every access holds `_lock`."""

    def __init__(self) -> None:
        self._rows: dict[str, TrackerRow] = {}
        self._lock = threading.Lock()

    def add(self, rows: Sequence[TrackerRow]) -> None:
        with self._lock:
            for row in rows:
                self._rows[row.id] = row

    def rows(self, owner: str | None, kind: Kind, now: datetime) -> list[TrackerRow]:
        with self._lock:
            return [
                r
                for r in self._rows.values()
                if r.kind == kind and (owner is None or r.owner == owner) and r.expires_at > now
            ]

    def expired(self, now: datetime) -> list[TrackerRow]:
        with self._lock:
            return [r for r in self._rows.values() if r.expires_at <= now]

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock:
            for i in ids:
                self._rows.pop(i, None)

    def close(self) -> None:
        """Nothing to release."""
