"""POST /cstp as a plain ASGI endpoint: auth, body limit, dispatch, 200 / 204.

Every agent call takes this path, so it skips what it does not need from FastAPI: request and
response objects, the exception middleware, dependency solving and route matching cost ~95 µs of
CPU per call, about half of what a trivial call costs without them (docs/PERFORMANCE.md).
`RpcFastPath` answers `POST /cstp` directly; the same endpoint is also registered on the router
(`web.routes`), so every other method or path spelling (`GET /cstp`: 405, `/cstp/`: redirect)
behaves as FastAPI makes it.

The replies are byte-for-byte what the FastAPI route sent: `Response(reply, media_type=
"application/json")`, an empty 204, and `JSONResponse({"detail": ...})` for 401 and 413.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from cstp import logs
from cstp.web.auth import Unauthorized
from cstp.web.state import WebState

PATH = "/cstp"
_JSON = (b"content-type", b"application/json")


class _Disconnected(Exception):
    pass


class _TooLarge(Exception):
    pass


# A body over the limit is still read (and dropped) up to this many times the limit before the 413
# goes out: a client still sending when the server closes gets a connection reset instead of the
# answer. Beyond it the 413 is sent and the connection closed.
_DRAIN_FACTOR = 4
_CLOSE = (b"connection", b"close")


async def _drain(scope: Scope, receive: Receive, cap: int, already: int) -> bool:
    """Read and drop the rest of the body; False when it is longer than `cap` (or the client left)."""
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        return False
    size = already
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        size += len(message.get("body", b""))
        if size > cap:
            return False
        if not message.get("more_body", False):
            return True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge(0, True)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge(size, message.get("more_body", False))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _is_bulk(body: bytes, methods: frozenset[str]) -> bool:
    """Whether an oversized body is one request to a bulk method (only those may exceed the usual
    limit; decoding once more costs little next to reading megabytes)."""
    if not methods:
        return False
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: a deeply nested body (not a bulk call)
        return False
    return isinstance(payload, dict) and payload.get("method") in methods


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _detail(send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False, separators=(",", ":")).encode()
    await _send(send, status, body, [*extra, (b"content-length", str(len(body)).encode()), _JSON])


async def _serve(scope: Scope, receive: Receive, send: Send) -> None:
    state: WebState = scope["app"].state.web
    try:
        agent = state.authenticate(_header(scope, b"authorization"))
    except Unauthorized as e:
        await _detail(send, 401, e.detail, [(b"www-authenticate", b"Bearer")])
        return
    # Bulk methods may send up to `bulk_body_bytes`; which method a body calls is known only once
    # it is read, so a body over the usual limit is read up to the bulk one, then checked.
    limit = max(state.max_body_bytes, state.bulk_body_bytes if state.bulk_methods else 0)
    try:
        body = await _read_body(scope, receive, limit)
    except _TooLarge as e:
        size, more = e.args
        drained = not more or await _drain(scope, receive, _DRAIN_FACTOR * state.max_body_bytes, size)
        extra = [] if drained else [_CLOSE]
        await _detail(send, 413, f"Request body exceeds {limit} bytes", extra)
        return
    except _Disconnected:
        return  # the client is gone: nobody to answer
    if len(body) > state.max_body_bytes and not _is_bulk(body, state.bulk_methods):
        await _detail(send, 413, f"Request body exceeds {state.max_body_bytes} bytes", [])
        return
    token = logs.agent.set(agent)
    try:
        reply = await state.dispatch(body, agent)
    finally:
        logs.agent.reset(token)
    if reply is None:
        await _send(send, 204, b"", [])
    else:
        await _send(send, 200, reply, [(b"content-length", str(len(reply)).encode()), _JSON])


class RpcEndpoint:
    """The ASGI endpoint (a class, so that Starlette's router treats it as an ASGI app)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _serve(scope, receive, send)


rpc_endpoint = RpcEndpoint()


class RpcFastPath:
    """Answer `POST /cstp` with `rpc_endpoint`; pass everything else on.

    Thread safety: stateless (the state is read from the app per request).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            await _serve(scope, receive, send)
        else:
            await self.app(scope, receive, send)
