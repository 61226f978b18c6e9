"""The dashboard's routes under `/ui`, wrapped in its security headers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from cstp.web.ui import agents, calibration, decision, decisions, guardrails, overview, signin
from cstp.web.ui.render import STATIC
from cstp.web.ui.security import SecurityHeaders

PREFIX = "/ui"
_ID = "{decision_id:str}"


def mount() -> Mount:
    routes = [
        Route("/", overview.overview, methods=["GET"]),
        Route("/signin", signin.sign_in_form, methods=["GET"]),
        Route("/signin", signin.sign_in, methods=["POST"]),
        Route("/signout", signin.sign_out, methods=["POST"]),
        Route("/decisions", decisions.decisions, methods=["GET"]),
        Route(f"/decisions/{_ID}", decision.decision, methods=["GET"]),
        Route(f"/decisions/{_ID}/review", decision.review, methods=["POST"]),
        Route("/calibration", calibration.calibration, methods=["GET"]),
        Route("/guardrails", guardrails.guardrails, methods=["GET"]),
        Route("/guardrails/check", guardrails.try_action, methods=["POST"]),
        Route("/agents", agents.agents, methods=["GET"]),
        Route("/agents/live", agents.live, methods=["GET"]),
        Route("/agents/reset", agents.reset, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    return Mount(PREFIX, app=SecurityHeaders(Router(routes), static_prefix=PREFIX + "/static/"))


async def root(request: Request) -> Response:
    """`GET /`: browsers (asking for HTML) go to the dashboard; API clients get the 404 they
    always got (the API lives at /cstp, /mcp and the well-known cards)."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(PREFIX + "/", status_code=302)
    return Response('{"detail":"Not Found"}', status_code=404, media_type="application/json")
