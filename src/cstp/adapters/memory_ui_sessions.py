"""Dashboard sessions in process memory: for the memory store (one process, nothing to share)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cstp.domain.ui_sessions import UiSession


class MemoryUiSessions:
    """A `UiSessionStore` in a dict. Thread safety: one lock around every access."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, UiSession] = {}
        self._secret: str | None = None

    def get(self, key: str) -> UiSession | None:
        with self._lock:
            return self._sessions.get(key)

    def put(self, session: UiSession) -> None:
        with self._lock:
            self._sessions[session.key] = session

    def delete(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self._sessions.pop(key, None)

    def expired(self, now: float) -> list[str]:
        with self._lock:
            return [k for k, s in self._sessions.items() if s.expires_at <= now]

    def secret(self, candidate: str) -> str:
        with self._lock:
            if self._secret is None:
                self._secret = candidate
            return self._secret
