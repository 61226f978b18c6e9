"""Agents at work: captured deliberation (`cstp.debugTracker`) and the circuit breakers
(`cstp.listBreakers`, with `cstp.resetCircuit` behind a reset button). The live part refreshes
itself every few seconds while the page is open (htmx polling of `/ui/agents/live`); without
JavaScript the page shows the same content and a reload link."""

from __future__ import annotations

from starlette.responses import Response

from cstp.web.ui.view import Reply, View, page

POLL_SECONDS = 5


async def _live(view: View) -> tuple[Reply, Reply]:
    tracker, breakers = await view.calls(("cstp.debugTracker", {}), ("cstp.listBreakers", {}))
    return tracker, breakers


@page
async def agents(view: View) -> Response:
    tracker, breakers = await _live(view)
    return view.render(
        "agents.html", nav="agents", tracker=tracker, breakers=breakers, poll=POLL_SECONDS, reset=None
    )


@page
async def live(view: View) -> Response:
    tracker, breakers = await _live(view)
    return view.render("_agents_live.html", tracker=tracker, breakers=breakers, poll=POLL_SECONDS)


@page
async def reset(view: View) -> Response:
    result = await view.call("cstp.resetCircuit", {"scope": view.arg("scope")})
    tracker, breakers = await _live(view)
    return view.render(
        "agents.html",
        200 if result.ok else 400,
        nav="agents",
        tracker=tracker,
        breakers=breakers,
        poll=POLL_SECONDS,
        reset=result,
    )
