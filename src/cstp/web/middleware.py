"""ASGI middleware: request id, one log line per HTTP request, and HTTP metrics.

A plain ASGI callable (not Starlette's BaseHTTPMiddleware, which costs a task and a memory stream
per request). A JSON-RPC request answered 200/204 (and an MCP request answered 200/202) logs its
HTTP line at DEBUG: each call in it already logged an INFO line (method, outcome, duration, agent,
request id), so one request does not cost two JSON log lines. Refused requests (401, 413) and
every other route keep an INFO line; the probes (/health, /ready, /metrics) log at DEBUG.

Failures of the HTTP exchange itself are handled here, for every route:
- a client that disconnects before its response started is not a server error: one INFO line
  ("client disconnected"), no traceback, counted with status 499 (nginx's "client closed request");
- an exception that escapes the app before a response started gets a 500 here, JSON-RPC shaped on
  `/cstp` (so a JSON-RPC client can read it), with `Connection: close`;
- a request cut at shutdown (its task cancelled past CSTP_SHUTDOWN_TIMEOUT) gets a 503, JSON-RPC
  shaped on `/cstp`, with `Connection: close`;
- every 5xx carries `Connection: close`, so a client never reuses a connection after it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cstp import logs
from cstp.web.metrics import Metrics

logger = logging.getLogger("cstp.http")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_QUIET = {"/health", "/ready", "/metrics"}
_RPC = "/cstp"
_UI = "/ui"  # every dashboard page counts under one route label
_UI_STATIC = "/ui/static/"
_MCP = {"/mcp", "/mcp/"}  # a tool call logs its method's call line, as a JSON-RPC call does
_ROUTES = {
    "/cstp",
    "/mcp",
    "/mcp/",
    "/health",
    "/ready",
    "/metrics",
    "/.well-known/agent.json",
    "/.well-known/agent-card.json",
}


DISCONNECTED = 499
_CLOSE = (b"connection", b"close")
_JSON = (b"content-type", b"application/json")
_RPC_INTERNAL = b'{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"},"id":null}'
_RPC_CUT = (
    b'{"jsonrpc":"2.0","error":{"code":-32603,"message":"Server shutting down",'
    b'"data":{"component":"server"}},"id":null}'
)
_HTTP_INTERNAL = b'{"detail":"Internal Server Error"}'
_HTTP_CUT = b'{"detail":"Server shutting down"}'


def _request_id(scope: Scope) -> str:
    """The client's `X-Request-ID` when it is sane, else 16 random hex digits."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            incoming: str = bytes(value).decode("latin-1")
            if _SAFE_ID.match(incoming):
                return incoming
            break
    return os.urandom(8).hex()


class RequestContext:
    """Give every request an id, echo it in `X-Request-ID`, log the request, count it.

    Thread safety: holds only the app and the metrics (prometheus_client metrics are thread-safe);
    the request id lives in a context variable, so concurrent requests never see each other's.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 500
        header = (b"x-request-id", rid.encode())
        response_started = False
        disconnected = False
        path = scope.get("path", "")

        async def receive_noting() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = [*message.get("headers", ()), header]
                if status >= 500 and not any(bytes(k).lower() == b"connection" for k, _ in headers):
                    headers.append(_CLOSE)
                message["headers"] = headers
            await send(message)

        async def answer(status_code: int, body: bytes) -> None:
            headers = [(b"content-length", str(len(body)).encode()), _JSON]
            try:
                await send_with_id({"type": "http.response.start", "status": status_code, "headers": headers})
                await send_with_id({"type": "http.response.body", "body": body})
            except Exception:  # the connection is gone: nobody to answer
                pass

        try:
            await self.app(scope, receive_noting, send_with_id)
        except asyncio.CancelledError:
            if response_started:
                raise
            # uvicorn cancels what is still running past the shutdown deadline, to end it: once
            # answered the task ends here (re-raising would only add a traceback to the log).
            logger.warning("request cut at shutdown", extra={"path": path})
            await answer(503, _RPC_CUT if path == _RPC else _HTTP_CUT)
        except Exception:
            if disconnected and not response_started:
                pass  # the client left; what failed was sending to it (logged below)
            elif not response_started:
                logger.exception("unhandled error serving %s", path)
                await answer(500, _RPC_INTERNAL if path == _RPC else _HTTP_INTERNAL)
            else:
                raise
        finally:
            if disconnected and not response_started:
                status = DISCONNECTED
            ui = path == _UI or path.startswith(_UI + "/")
            route = path if path in _ROUTES else _UI if ui else "other"
            self.metrics.http_requests.labels(route, str(status)).inc()
            quiet = path in _QUIET or ((path == _RPC or path in _MCP) and status in (200, 202, 204))
            quiet = quiet or (path.startswith(_UI_STATIC) and status in (200, 304))  # page assets
            if status == DISCONNECTED:
                logger.info("client disconnected", extra={"method": scope.get("method"), "path": path})
                quiet = True
            level = logging.DEBUG if quiet else logging.INFO
            if logger.isEnabledFor(level):
                logger.log(
                    level,
                    "request",
                    extra={
                        "method": scope.get("method"),
                        "path": path,
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            logs.request_id.reset(token)
