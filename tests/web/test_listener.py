"""The real listener (uvicorn on the guarded httptools protocol, as `cstp-server` runs it) over a
loopback socket: header limits, incomplete-request deadline, client disconnects, 5xx closing the
connection, the /ready deadline with a hung store."""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from cstp.web.server import bind, guarded_protocol
from tests.conftest import AUTH

REQUEST_TIMEOUT = 1.0


class _Served:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="on",
            http=guarded_protocol(4096, 20, REQUEST_TIMEOUT),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> _Served:
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def connect(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return s


def _read_all(s: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


@pytest.fixture
def served(app_factory: Any) -> Iterator[Callable[..., _Served]]:
    def make(app: Any = None) -> _Served:
        return _Served(app if app is not None else app_factory())

    yield make


def test_oversized_headers_get_431_and_a_close(served: Any) -> None:
    with served() as srv, srv.connect() as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        reply = _read_all(s)  # the server closes the connection
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert b"connection: close" in reply.lower()


def test_too_many_header_lines_get_431(served: Any) -> None:
    lines = b"".join(b"X-H%d: v\r\n" % i for i in range(50))
    with served() as srv, srv.connect() as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n")
        reply = _read_all(s)
    assert reply.startswith(b"HTTP/1.1 431 ")


def test_headers_within_the_limits_are_served(served: Any) -> None:
    with served() as srv:
        r = httpx.get(f"{srv.url}/health", headers={f"X-H{i}": "v" * 50 for i in range(10)})
    assert r.status_code == 200


def test_an_incomplete_request_is_answered_408_and_closed(served: Any) -> None:
    with served() as srv, srv.connect() as s:
        s.sendall(
            b"POST /cstp HTTP/1.1\r\nHost: x\r\nAuthorization: "
            + AUTH["Authorization"].encode()
            + b'\r\nContent-Length: 100\r\n\r\n{"jsonrpc"'
        )
        reply = _read_all(s)  # returns only because the server closes it
    assert reply.startswith(b"HTTP/1.1 408 ")


def test_a_silent_connection_is_closed(served: Any) -> None:
    with served() as srv, srv.connect() as s:
        assert (
            _read_all(s) == b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: 28\r\nconnection: close\r\n\r\nRequest not received in time"
        )


def test_a_client_disconnect_mid_request_is_one_info_line(
    served: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with served() as srv:
        with srv.connect() as s:
            s.sendall(
                b"POST /cstp HTTP/1.1\r\nHost: x\r\nAuthorization: "
                + AUTH["Authorization"].encode()
                + b'\r\nContent-Length: 1000\r\n\r\n{"jsonrpc":'
            )
            time.sleep(0.2)
        deadline = time.monotonic() + 10
        while not any(r.getMessage() == "client disconnected" for r in caplog.records):
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            time.sleep(0.05)
        metrics = httpx.get(f"{srv.url}/metrics").text
    lines = [r for r in caplog.records if r.getMessage() == "client disconnected"]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert 'cstp_http_requests_total{route="/cstp",status="499"} 1.0' in metrics
    assert 'status="500"' not in metrics


def test_a_500_closes_the_connection_and_is_json_rpc_on_cstp(served: Any, app_factory: Any) -> None:
    app = app_factory()

    async def broken(body: bytes, agent: str) -> bytes | None:
        raise RuntimeError("a bug")

    app.state.web = dataclasses.replace(app.state.web, dispatch=broken)
    with served(app) as srv, httpx.Client() as http:
        r = http.post(f"{srv.url}/cstp", json={"jsonrpc": "2.0", "method": "x", "id": 1}, headers=AUTH)
        assert r.status_code == 500
        assert r.headers["connection"] == "close"
        assert r.json() == {
            "jsonrpc": "2.0",
            "error": {"code": -32603, "message": "Internal error"},
            "id": None,
        }
        assert http.get(f"{srv.url}/health").status_code == 200  # a new connection works


def test_ready_answers_503_within_its_deadline_when_the_store_hangs(
    settings_factory: Any, make_adapters: Any
) -> None:
    from fastapi.testclient import TestClient

    from cstp.app import Adapters, create_app

    release = threading.Event()
    adapters = make_adapters()

    class HungStore:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def ping(self) -> None:
            release.wait(60)  # a SIGSTOP'd Chroma: no error, no answer

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    app = create_app(settings_factory(), adapters=Adapters(HungStore(adapters.store), adapters.embedder))
    try:
        with TestClient(app) as c:
            for _ in range(3):  # a hung probe is waited on again, not started once per call
                r = c.get("/ready")
                assert r.status_code == 503
                assert r.json()["components"]["store"]["status"] == "ERROR"
                assert "in time" in r.json()["components"]["store"]["error"]
    finally:
        release.set()


def test_a_body_over_the_limit_is_answered_413_not_reset(served: Any) -> None:
    """The fuzz run's 1.2 MB nested body: the client is still sending when the server has decided;
    closing then would reset the connection and lose the 413."""
    size = 1_200_000
    head = (
        b"POST /cstp HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + AUTH["Authorization"].encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % size
    )
    with served() as srv, srv.connect() as s:
        s.sendall(head + b"[" * 200_000)
        time.sleep(0.5)  # the server has seen enough to know the body is too large
        s.sendall(b"[" * (size - 200_000))
        reply = _read_all(s)
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:100]
