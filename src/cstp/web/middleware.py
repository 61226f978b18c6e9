"""ASGI middleware: request id and one log line per request, plus HTTP metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cstp import logs
from cstp.web.metrics import Metrics

logger = logging.getLogger("cstp.http")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_QUIET = {"/health", "/ready", "/metrics"}
_ROUTES = {
    "/cstp",
    "/health",
    "/ready",
    "/metrics",
    "/.well-known/agent.json",
    "/.well-known/agent-card.json",
}


class RequestContext:
    """Give every request an id (the client's `X-Request-ID` when sane), echo it, log the request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex[:16]
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = scope.get("path", "")
            route = path if path in _ROUTES else "other"
            self.metrics.http_requests.labels(route, str(status)).inc()
            ms = round((time.perf_counter() - started) * 1000, 2)
            level = logging.DEBUG if path in _QUIET else logging.INFO
            if logger.isEnabledFor(level):
                logger.log(
                    level,
                    "request",
                    extra={
                        "method": scope.get("method"),
                        "path": path,
                        "status": status,
                        "duration_ms": ms,
                    },
                )
            logs.request_id.reset(token)
