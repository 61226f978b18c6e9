"""HTTP routes. Thin: read the request, call one member of `WebState`, shape the response.

The state is `app.state.web`, put there by the composition root; nothing here imports `cstp.app`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import Route

from cstp.web.agent_card import Card
from cstp.web.rpc_endpoint import PATH, rpc_endpoint
from cstp.web.state import WebState

router = APIRouter()
# POST /cstp: a plain ASGI endpoint (see web.rpc_endpoint); RpcFastPath answers it before routing,
# and this route makes the router know the path (405 for GET, the redirect for /cstp/).
router.routes.append(Route(PATH, rpc_endpoint, methods=["POST"]))


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    s = _state(request)
    return {
        "status": "healthy",
        "version": s.version,
        "uptime_seconds": round(time.monotonic() - s.started, 3),
        "timestamp": datetime.now(UTC).isoformat(),
    }


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    if _state(request).drain.draining:  # stopping: the balancer must route elsewhere (web.drain)
        return JSONResponse({"status": "draining", "error": "shutting down"}, 503)
    statuses = await anyio.to_thread.run_sync(_state(request).readiness)
    components = {name: status.to_wire() for name, status in statuses.items()}
    failing = [name for name, status in statuses.items() if status.state == "ERROR"]
    if failing:
        return JSONResponse(
            {
                "status": "not_ready",
                "error": f"{', '.join(failing)} not ready",
                "components": components,
            },
            503,
        )
    return JSONResponse({"status": "ready", "components": components})


def _card(request: Request, card: Card) -> Response:
    headers = {"ETag": card.etag, "Cache-Control": "public, max-age=300"}
    if request.headers.get("if-none-match") == card.etag:
        return Response(status_code=304, headers=headers)
    return Response(card.body, media_type="application/json", headers=headers)


@router.get("/.well-known/agent.json")
async def agent_json(request: Request) -> Response:
    return _card(request, _state(request).cstp_card)


@router.get("/.well-known/agent-card.json")
async def agent_card_json(request: Request) -> Response:
    return _card(request, _state(request).a2a_card)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    registry = _state(request).registry
    data = await anyio.to_thread.run_sync(generate_latest, registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)
