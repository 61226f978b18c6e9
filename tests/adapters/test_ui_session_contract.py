"""The UiSessionStore contract on memory, embedded Chroma and a Chroma server; and two Chroma
stores on one database share sessions and the signing secret (what lets replicas agree)."""

from __future__ import annotations

import pytest

from cstp.adapters.memory_ui_sessions import MemoryUiSessions
from cstp.domain.ports import UiSessionStore
from cstp.domain.ui_sessions import UiSession, UiSessions
from tests.adapters.test_store_contract import Backend, backend

__all__ = ["backend"]


def _sessions(backend: Backend) -> UiSessionStore:
    if backend.kind == "memory":
        return MemoryUiSessions()
    opened = backend.open()
    return opened.ui_sessions()  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def store(backend: Backend) -> UiSessionStore:
    return _sessions(backend)


def test_a_session_round_trips_and_is_deleted(store: UiSessionStore) -> None:
    session = UiSession("k1", "alice", "csrf-1", 1000.5)
    store.put(session)
    assert store.get("k1") == session
    assert store.get("k2") is None
    store.delete(["k1", "unknown"])
    assert store.get("k1") is None


def test_expired_lists_only_sessions_past_their_expiry(store: UiSessionStore) -> None:
    store.put(UiSession("old", "alice", "c", 100.0))
    store.put(UiSession("new", "bob", "c", 200.0))
    assert store.expired(99.0) == []
    assert store.expired(100.0) == ["old"]
    assert sorted(store.expired(500.0)) == ["new", "old"]


def test_the_first_secret_stays(store: UiSessionStore) -> None:
    assert store.secret("first") == "first"
    assert store.secret("second") == "first"
    assert "ui-secret" not in store.expired(10**12)  # the secret is not a session


def test_two_stores_on_one_chroma_database_share_sessions_and_the_secret(backend: Backend) -> None:
    if backend.kind == "memory":
        pytest.skip("one process: nothing to share")
    first, second = _sessions(backend), _sessions(backend)
    a = UiSessions(first, None, 3600)
    b = UiSessions(second, None, 3600)
    cookie, _ = a.sign_in("alice")
    resolved = b.resolve(cookie)  # signed with the shared secret, found in the shared store
    assert resolved is not None and resolved.agent == "alice"
    b.sign_out(resolved)
    assert a.resolve(cookie) is None  # signed out on one replica: refused on the other
