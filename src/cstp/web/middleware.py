"""ASGI middleware: request id, one log line per HTTP request, and HTTP metrics.

A plain ASGI callable (not Starlette's BaseHTTPMiddleware, which costs a task and a memory stream
per request). A JSON-RPC request answered 200/204 (and an MCP request answered 200/202) logs its
HTTP line at DEBUG: each call in it already logged an INFO line (method, outcome, duration, agent,
request id), so one request does not cost two JSON log lines. Refused requests (401, 413) and
every other route keep an INFO line; the probes (/health, /ready, /metrics) log at DEBUG.
"""

from __future__ import annotations

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

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = scope.get("path", "")
            route = path if path in _ROUTES else "other"
            self.metrics.http_requests.labels(route, str(status)).inc()
            quiet = path in _QUIET or ((path == _RPC or path in _MCP) and status in (200, 202, 204))
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
