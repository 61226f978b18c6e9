"""Overview: counts by category, stakes, status and agent; decisions per day; recent decisions;
reviews that are due (`cstp.ready`'s review actions)."""

from __future__ import annotations

from starlette.responses import Response

from cstp.web.ui import charts
from cstp.web.ui.view import View, page

RECENT = 10


@page
async def overview(view: View) -> Response:
    stats, recent, due = await view.calls(
        ("cstp.getStats", {}),
        ("cstp.listDecisions", {"limit": RECENT}),
        ("cstp.ready", {"actionTypes": ["review_outcome"], "limit": 10}),
    )
    days = charts.per_day(stats.result.get("byDay", []), view.state.clock().date()) if stats.ok else None
    return view.render("overview.html", nav="overview", stats=stats, recent=recent, due=due, days=days)
