"""Sign-in and sign-out.

Sign-in takes an agent token (as the `Authorization: Bearer` header would carry it) in a POSTed
form, checks it with the server's own authenticator, and answers with a new session's cookie.
The token goes no further: it is not stored, not put in the session, a URL or a page, and the
request log has only the path. The sign-in form carries a signed, timestamped form token (there
is no session yet to hold a CSRF token) and must come from this origin.
"""

from __future__ import annotations

import logging

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from cstp.web.auth import Unauthorized
from cstp.web.ui.security import COOKIE, clear_session_cookie, same_origin, set_session_cookie
from cstp.web.ui.view import View, html, page, read_form, refused, ui_state

logger = logging.getLogger("cstp.ui")
MAX_TOKEN = 4096


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard path only (never another site)."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


def _form(request: Request, status: int = 200, error: str | None = None, next_url: str = "/ui/") -> Response:
    form_token = ui_state(request).sessions.form_token()
    return html(
        "signin.html", status, session=None, nav="", form_token=form_token, error=error, next_url=next_url
    )


async def sign_in_form(request: Request) -> Response:
    state = ui_state(request)
    session = await anyio.to_thread.run_sync(state.sessions.resolve, request.cookies.get(COOKIE))
    next_url = safe_next(request.query_params.get("next"))
    if session is not None:
        return RedirectResponse(next_url, status_code=303)
    return await anyio.to_thread.run_sync(lambda: _form(request, next_url=next_url))


async def sign_in(request: Request) -> Response:
    state = ui_state(request)
    form = await read_form(request)
    if form is None or not same_origin(request):
        return refused(403, "Forbidden", "This sign-in form was not accepted. Reload the page and try again.")
    form_token, token, next_raw = form.get("form"), form.get("token"), form.get("next")
    next_url = safe_next(next_raw if isinstance(next_raw, str) else None)
    if not isinstance(form_token, str) or not state.sessions.form_token_ok(form_token):
        return refused(403, "Forbidden", "This sign-in form was not accepted. Reload the page and try again.")
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN:
        return _form(request, 400, "Enter an agent token.", next_url)
    try:
        agent = state.authenticate(f"Bearer {token.strip()}")
    except Unauthorized:
        logger.info("dashboard sign-in refused")
        return _form(request, 401, "That token was not accepted.", next_url)
    cookie, session = await anyio.to_thread.run_sync(state.sessions.sign_in, agent)
    logger.info("dashboard sign-in", extra={"agent": agent})
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(response, cookie, state.sessions.ttl, state.cookie_secure)
    return response


@page
async def sign_out(view: View) -> Response:
    await anyio.to_thread.run_sync(view.state.sessions.sign_out, view.session)
    logger.info("dashboard sign-out", extra={"agent": view.agent})
    response = RedirectResponse("/ui/signin", status_code=303)
    clear_session_cookie(response, view.state.cookie_secure)
    return response
