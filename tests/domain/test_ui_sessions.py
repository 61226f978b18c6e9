"""Dashboard sessions: cookie signing, expiry, sign-out, the sign-in form token, CSRF."""

from __future__ import annotations

from cstp.adapters.memory_ui_sessions import MemoryUiSessions
from cstp.domain.ui_sessions import UiSessions, csrf_ok, session_key


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _sessions(secret: str | None = "s3cret", ttl: float = 60) -> tuple[UiSessions, MemoryUiSessions, Clock]:
    store, clock = MemoryUiSessions(), Clock()
    return UiSessions(store, secret, ttl, clock), store, clock


def test_the_store_keeps_a_hash_of_the_id_not_the_cookie() -> None:
    sessions, store, _ = _sessions()
    cookie, session = sessions.sign_in("alice")
    session_id = cookie.rpartition(".")[0]
    assert session.key == session_key(session_id) != session_id
    assert store.get(session.key) == session and store.get(session_id) is None
    assert sessions.resolve(cookie) == session


def test_a_cookie_signed_with_another_secret_is_refused() -> None:
    a, store, clock = _sessions("one")
    cookie, _ = a.sign_in("alice")
    b = UiSessions(store, "two", 60, clock)  # same store, other secret
    assert b.resolve(cookie) is None and a.resolve(cookie) is not None


def test_tampered_cookies_are_refused() -> None:
    sessions, _, _ = _sessions()
    cookie, _ = sessions.sign_in("alice")
    session_id, _, sig = cookie.rpartition(".")
    for bad in (
        None,
        "",
        "nodot",
        f"{session_id}.",
        f".{sig}",
        f"{session_id}x.{sig}",
        cookie + "0",
        "a" * 300,
    ):
        assert sessions.resolve(bad) is None, bad


def test_sessions_expire_and_are_purged() -> None:
    sessions, store, clock = _sessions(ttl=60)
    cookie, session = sessions.sign_in("alice")
    clock.now += 59
    assert sessions.resolve(cookie) is not None
    clock.now += 1
    assert sessions.resolve(cookie) is None and store.get(session.key) is None
    _, stale = sessions.sign_in("bob")
    clock.now += 3600
    sessions.sign_in("carol")  # a sign-in sweeps expired sessions
    assert store.get(stale.key) is None


def test_sign_out_deletes_the_session() -> None:
    sessions, store, _ = _sessions()
    cookie, session = sessions.sign_in("alice")
    sessions.sign_out(session)
    assert sessions.resolve(cookie) is None and store.get(session.key) is None


def test_without_a_configured_secret_the_stored_one_is_used() -> None:
    store, clock = MemoryUiSessions(), Clock()
    store.secret("shared")
    a, b = UiSessions(store, None, 60, clock), UiSessions(store, None, 60, clock)
    cookie, _ = a.sign_in("alice")
    assert b.resolve(cookie) is not None
    assert UiSessions(store, "shared", 60, clock).resolve(cookie) is not None


def test_sign_in_form_token_is_signed_and_expires() -> None:
    sessions, _, clock = _sessions()
    token = sessions.form_token()
    assert sessions.form_token_ok(token)
    stamp, _, sig = token.partition(".")
    assert not sessions.form_token_ok(f"{int(stamp) + 1}.{sig}")
    assert not sessions.form_token_ok(None) and not sessions.form_token_ok("garbage")
    clock.now += 3601
    assert not sessions.form_token_ok(token)


def test_csrf_check() -> None:
    sessions, _, _ = _sessions()
    _, session = sessions.sign_in("alice")
    assert csrf_ok(session, session.csrf)
    assert (
        not csrf_ok(session, None) and not csrf_ok(session, "") and not csrf_ok(session, session.csrf + "x")
    )
