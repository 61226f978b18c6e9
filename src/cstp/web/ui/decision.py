"""Decision: every field of one record (`cstp.getDecision`), its graph neighbours
(`cstp.getNeighbors`), related decisions (`cstp.queryDecisions` on its text), and its review or a
review form (`cstp.reviewDecision`)."""

from __future__ import annotations

from typing import Any, get_args

from starlette.responses import RedirectResponse, Response

from cstp.domain.records import OutcomeValue
from cstp.web.ui.view import View, page

RELATED = 6
OUTCOMES = get_args(OutcomeValue)
# Shown in their own sections (or the header), not in the table of remaining fields.
_SECTIONED = {
    "id",
    "decision",
    "summary",
    "reasons",
    "tags",
    "project_context",
    "deliberation",
    "outcome",
    "actual_result",
    "lessons",
    "review_notes",
    "reviewed_at",
    "reviewed_by",
    "affected_kpis",
}


def _fields(record: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in record.items() if k not in _SECTIONED and v not in (None, "", [], {})]


async def _show(view: View, decision_id: str, status: int = 200, review_error: str | None = None) -> Response:
    got = await view.call("cstp.getDecision", {"id": decision_id})
    record = got.result.get("decision") if got.ok and got.result.get("found") else None
    if record is None:
        message = got.error or f"No decision with id {decision_id}."
        return view.render(
            "decision.html", 404 if got.ok else 400, nav="decisions", record=None, message=message
        )
    neighbours, related = await view.calls(
        ("cstp.getNeighbors", {"nodeId": record["id"], "limit": 20}),
        ("cstp.queryDecisions", {"query": str(record.get("decision", ""))[:2000], "limit": RELATED + 1}),
    )
    similar = (
        [d for d in related.result.get("decisions", []) if d.get("id") != record["id"]][:RELATED]
        if related.ok
        else []
    )
    return view.render(
        "decision.html",
        status,
        nav="decisions",
        record=record,
        fields=_fields(record),
        neighbours=neighbours,
        related=related,
        similar=similar,
        outcomes=OUTCOMES,
        review_error=review_error,
        form=view.form,
    )


@page
async def decision(view: View) -> Response:
    return await _show(view, str(view.request.path_params["decision_id"]))


@page
async def review(view: View) -> Response:
    decision_id = str(view.request.path_params["decision_id"])
    params: dict[str, Any] = {"id": decision_id, "outcome": view.arg("outcome")}
    for field, key in (("actual_result", "actualResult"), ("lessons", "lessons"), ("notes", "notes")):
        if view.arg(field):
            params[key] = view.arg(field)
    reply = await view.call("cstp.reviewDecision", params)
    if not reply.ok:
        return await _show(view, decision_id, 400, review_error=reply.error)
    return RedirectResponse(f"/ui/decisions/{reply.result.get('id', decision_id)}", status_code=303)
