"""The dashboard's HTTP hardening: response headers, the session cookie, same-origin POSTs.

Every /ui response carries a strict Content-Security-Policy (no inline script or style, nothing
from another origin: every asset ships in the package) and refuses framing. The cookie is the
signed session id (`domain.ui_sessions`), never the token: HttpOnly, SameSite=Strict, Path=/ui,
with the session's lifetime, and Secure when CSTP_UI_COOKIE_SECURE says the server is on https.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "cstp_ui"
COOKIE_PATH = "/ui"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """ASGI wrapper adding the headers to every response of the wrapped app; pages (not the
    static assets) are also `no-store`, so a signed-out browser's back button shows nothing, and
    carry `Server-Timing: app;dur=<ms>` (the time until the response started: what the dashboard
    benchmark reports as server time)."""

    def __init__(self, app: ASGIApp, static_prefix: str) -> None:
        self.app = app
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(self.static_prefix)
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.extend(h for h in _HEADERS if h[0] not in names)
                if not static:
                    if b"cache-control" not in names:
                        headers.append(_NO_STORE)
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    headers.append((b"server-timing", f"app;dur={elapsed_ms:.2f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def set_session_cookie(response: Response, value: str, max_age: float, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(max_age),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def clear_session_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure)


def same_origin(request: Request) -> bool:
    """A POST's Origin (or, without one, its Referer) names this server; browsers send Origin on
    every POST, so a cross-site form is refused even before its CSRF token is checked."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return True  # not a browser (or one that sends neither): the CSRF token still decides
    host = request.headers.get("host", "")
    scheme, sep, rest = origin.partition("://")
    return bool(sep) and rest.split("/", 1)[0] == host and scheme in ("http", "https")
