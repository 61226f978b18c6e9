"""The dashboard's sign-in sessions: random ids, kept server-side, signed into the cookie.

A browser that signs in with an agent token gets a session, never the token: the cookie carries
`<session id>.<HMAC of the id>`; the store keeps the session under a SHA-256 of the id, so reading
the store does not give anyone a working cookie. Each session has its own CSRF token (put in every
form, checked on every POST) and an expiry. Signing out deletes the session from the shared store,
so the old cookie stops working on every replica at once.

The signing secret comes from a setting, or is generated and kept in the shared store on first
use (`UiSessionStore.secret`), so every replica signs and checks with the same one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cstp.domain.ports import UiSessionStore

_ID_BYTES = 32
_PURGE_EVERY = 300.0  # seconds between sweeps of expired sessions (done on sign-in)


@dataclass(frozen=True, slots=True)
class UiSession:
    key: str  # SHA-256 hex of the session id (the id itself is only in the cookie)
    agent: str  # the agent whose token signed in: pages call methods as this agent
    csrf: str  # the per-session form token
    expires_at: float  # epoch seconds


def session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class UiSessions:
    """Create, resolve and end sessions; sign and check cookie values.

    Thread safety: the secret and TTL are fixed at construction; the store is thread-safe.
    """

    def __init__(
        self,
        store: UiSessionStore,
        secret: str | None,
        ttl: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._configured = secret
        self._secret: bytes | None = None
        self._lock = threading.Lock()
        self.ttl = ttl
        self._clock = clock
        self._next_purge = 0.0

    def _key(self) -> bytes:
        """The signing key: the configured secret, else the shared store's (read on first use, so
        a server starts while its store is still unreachable)."""
        with self._lock:
            if self._secret is None:
                chosen = self._configured or self._store.secret(secrets.token_urlsafe(_ID_BYTES))
                self._secret = chosen.encode()
            return self._secret

    def _sign(self, value: str) -> str:
        return hmac.new(self._key(), value.encode(), hashlib.sha256).hexdigest()

    def sign_in(self, agent: str) -> tuple[str, UiSession]:
        """A new session for `agent`: (cookie value, session)."""
        now = self._clock()
        if now >= self._next_purge:
            self._next_purge = now + _PURGE_EVERY
            stale = self._store.expired(now)
            if stale:
                self._store.delete(stale)
        session_id = secrets.token_urlsafe(_ID_BYTES)
        session = UiSession(session_key(session_id), agent, secrets.token_urlsafe(_ID_BYTES), now + self.ttl)
        self._store.put(session)
        return f"{session_id}.{self._sign(session_id)}", session

    def resolve(self, cookie: str | None) -> UiSession | None:
        """The live session a cookie value names, or None (missing, forged, expired, signed out)."""
        if not cookie or len(cookie) > 256:
            return None
        session_id, dot, signature = cookie.rpartition(".")
        if not dot or not session_id or not hmac.compare_digest(signature, self._sign(session_id)):
            return None
        session = self._store.get(session_key(session_id))
        if session is None:
            return None
        if session.expires_at <= self._clock():
            self._store.delete([session.key])
            return None
        return session

    def sign_out(self, session: UiSession) -> None:
        self._store.delete([session.key])

    def form_token(self) -> str:
        """A token for the sign-in form (there is no session yet): a signed timestamp."""
        stamp = str(int(self._clock()))
        return f"{stamp}.{self._sign('sign-in:' + stamp)}"

    def form_token_ok(self, token: str | None, max_age: float = 3600.0) -> bool:
        if not token or len(token) > 128:
            return False
        stamp, dot, signature = token.partition(".")
        if (
            not dot
            or not stamp.isdigit()
            or not hmac.compare_digest(signature, self._sign("sign-in:" + stamp))
        ):
            return False
        return 0 <= self._clock() - int(stamp) <= max_age


def csrf_ok(session: UiSession, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf, submitted or "")
