"""One dashboard request: its signed-in session, method calls as that agent, and rendering.

`page(handler)` makes a Starlette endpoint that first resolves the session cookie (no live
session: a redirect to the sign-in page) and, for a POST, checks the same-origin headers and the
session's CSRF token (403 otherwise); then `handler(view)` runs with a `View`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cstp.domain.ui_sessions import UiSession, csrf_ok
from cstp.web.ui.render import render
from cstp.web.ui.security import COOKIE, same_origin
from cstp.web.ui.state import UiState

MAX_FORM_BYTES = 65_536
_GENERIC = "The server could not answer this request."


@dataclass(frozen=True, slots=True)
class Reply:
    """A method's answer: its result, or the protocol's error message (never internal text)."""

    result: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def ui_state(request: Request) -> UiState:
    state: UiState = request.app.state.ui
    return state


def html(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(name, **context), status_code=status)


def refused(status: int, title: str, message: str) -> HTMLResponse:
    return html("error.html", status, title=title, message=message, session=None, nav="")


class View:
    """Per request. `call`/`calls` run methods as the session's agent."""

    def __init__(self, request: Request, state: UiState, session: UiSession, form: FormData | None) -> None:
        self.request = request
        self.state = state
        self.session = session
        self.form = form

    @property
    def agent(self) -> str:
        return self.session.agent

    def arg(self, name: str, default: str = "") -> str:
        """A query (GET) or form (POST) field, stripped; `default` when absent."""
        source: Any = self.form if self.form is not None else self.request.query_params
        value = source.get(name)
        return value.strip() if isinstance(value, str) else default

    async def call(self, method: str, params: dict[str, Any]) -> Reply:
        try:
            reply = await self.state.call(method, params, self.agent)
        except Exception:  # the dispatcher answers errors itself; this is a transport failure
            return Reply(error=_GENERIC)
        error = reply.get("error")
        if isinstance(error, dict):
            return Reply(error=str(error.get("message") or _GENERIC))
        return Reply(result=reply.get("result"))

    async def calls(self, *calls: tuple[str, dict[str, Any]]) -> list[Reply]:
        """Several independent calls at once (each on its own worker thread when it blocks)."""
        return list(await asyncio.gather(*(self.call(m, p) for m, p in calls)))

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return html(name, status, session=self.session, csrf=self.session.csrf, **context)


Handler = Callable[[View], Awaitable[Response]]


def to_sign_in(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    location = "/ui/signin?next=" + quote(target, safe="")
    if request.headers.get("hx-request"):  # an htmx poll after the session ended
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


async def read_form(request: Request) -> FormData | None:
    """The urlencoded form of a POST, or None when it is too large or not a form."""
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > MAX_FORM_BYTES:
        return None
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    return await request.form(max_files=0, max_fields=100)


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state = ui_state(request)
        try:
            session = await anyio.to_thread.run_sync(state.sessions.resolve, request.cookies.get(COOKIE))
        except Exception:
            return refused(503, "Unavailable", "Sessions cannot be read right now; try again shortly.")
        if session is None:
            return to_sign_in(request)
        form = None
        if request.method == "POST":
            form = await read_form(request)
            token = form.get("csrf") if form is not None else None
            if (
                form is None
                or not same_origin(request)
                or not csrf_ok(session, token if isinstance(token, str) else None)
            ):
                return refused(
                    403,
                    "Forbidden",
                    "This form was not accepted (its security token is missing or stale). "
                    "Reload the page and try again.",
                )
        return await handler(View(request, state, session, form))

    return endpoint
