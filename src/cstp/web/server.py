"""The HTTP listener: uvicorn on httptools, with the limits uvicorn does not set by itself.

uvicorn's httptools protocol accepts request headers of any size and count (a 32 MB header on
`/health` was answered 200) and times out only idle keep-alive connections: a client that opens a
connection and sends a request slowly, or never finishes it, holds it forever. `GuardedHttpTools`
adds the three limits every listener of this server gets:

- total header bytes (request line included) and header count, over which the request is answered
  `431 Request Header Fields Too Large` and the connection closed;
- a deadline for each request to arrive complete (from its first byte, or from the connection's
  opening, to the end of its body), past which it is answered `408 Request Timeout` if no
  response has started, and the connection closed.

A request that has arrived is not timed here: its handler's time is the server's business (the
store and embedder have their own timeouts).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _plain(status: bytes, text: bytes) -> bytes:
    return b"".join(
        [
            b"HTTP/1.1 ",
            status,
            b"\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ",
            str(len(text)).encode(),
            b"\r\nconnection: close\r\n\r\n",
            text,
        ]
    )


_431 = _plain(b"431 Request Header Fields Too Large", b"Request header fields too large")
_408 = _plain(b"408 Request Timeout", b"Request not received in time")


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that was already answered."""


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with header limits and an incomplete-request deadline.

    The limits are class attributes, set by `guarded_protocol` (uvicorn builds the protocol from
    the class it is given). Thread safety: runs on the event loop only, like its base.
    """

    max_header_bytes = 32_768
    max_headers = 100
    incomplete_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._header_count = 0
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None

    # --- the deadline for a request to arrive -------------------------------------------------
    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.incomplete_timeout, self._on_deadline)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _on_deadline(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(_408)
        self._refused = True
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is an incomplete request too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # --- header limits --------------------------------------------------------------------------
    def _count(self, size: int, header: bool) -> None:
        self._header_bytes += size
        self._header_count += header
        if self._header_bytes > self.max_header_bytes or self._header_count > self.max_headers:
            self._refused = True
            self._disarm()
            self.transport.write(_431)
            self.transport.close()
            raise _Refused

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - cstp serves no upgrades
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            if self._refused:
                return  # answered 431 already
            msg = "Invalid HTTP request received."
            self.logger.info(msg)
            self.send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._header_count = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url), header=False)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, header=True)
        super().on_header(name, value)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()


def guarded_protocol(
    max_header_bytes: int, max_headers: int, incomplete_timeout: float
) -> type[HttpToolsProtocol]:
    """A `GuardedHttpTools` subclass with these limits, for `uvicorn.Config(http=...)`."""
    return type(
        "GuardedHttpTools",
        (GuardedHttpTools,),
        {
            "max_header_bytes": max_header_bytes,
            "max_headers": max_headers,
            "incomplete_timeout": incomplete_timeout,
        },
    )


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """The listening socket, bound before the server announces itself (a port in use fails here,
    before any "ready" line). `reuse_port`: one of several listening sockets on the port
    (SO_REUSEPORT, see `reserve`). Raises OSError."""
    sock = _socket(host)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def reserve(host: str, port: int) -> socket.socket:
    """Hold the port for CSTP_WORKERS: bound with SO_REUSEPORT but not listening.

    Each worker listens on a socket of its own bound with SO_REUSEPORT (`bind(reuse_port=True)`),
    and the kernel spreads new connections evenly over the listening ones. One shared listening
    socket spreads them badly: a worker's event loop accepts every pending connection at once, so
    16 connections opened together went 16/0, 12/4 or 8/8 over two workers in three tries. A
    socket that only is bound takes no connections; held by the supervisor, it keeps the port
    from anyone else while workers restart. The caller first checks the port with `bind` (which
    fails when anything listens there) and closes that socket. Raises OSError.
    """
    sock = _socket(host)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _socket(host: str) -> socket.socket:
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)


class NotifyingServer(uvicorn.Server):
    """uvicorn's server, calling `on_serving` once its startup has finished and it accepts
    connections (a CSTP_WORKERS worker tells its supervisor so; `runtime.workers`)."""

    def __init__(self, config: uvicorn.Config, on_serving: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self._on_serving = on_serving

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_serving is not None:
            on_serving, self._on_serving = self._on_serving, None
            on_serving()
