"""Calibration: the reliability diagram (confidence bucket vs actual success rate, with counts),
Brier score and accuracy over six 30-day periods, the per-category table, drift alerts
(`cstp.checkDrift`) and filters for project, category and window (`cstp.getCalibration`)."""

from __future__ import annotations

from typing import Any, get_args

from starlette.responses import Response

from cstp.domain.records import Category
from cstp.web.ui import charts
from cstp.web.ui.view import View, page

WINDOWS = ("30d", "60d", "90d", "all")
CATEGORIES = get_args(Category)


@page
async def calibration(view: View) -> Response:
    project, category, window = view.arg("project"), view.arg("category"), view.arg("window")
    base: dict[str, Any] = {}
    if project:
        base["project"] = project
    if category:
        base["category"] = category
    main: dict[str, Any] = {**base, **({"window": window} if window else {})}
    drift: dict[str, Any] = dict(base)
    periods = charts.periods(view.state.clock().date())
    per_period = [
        ("cstp.getCalibration", {**base, "filters": {"since": since.isoformat(), "until": until.isoformat()}})
        for _, since, until in periods
    ]
    per_category = [("cstp.getCalibration", {**main, "category": c}) for c in CATEGORIES if not category]
    replies = await view.calls(
        ("cstp.getCalibration", main), ("cstp.checkDrift", drift), *per_period, *per_category
    )
    overall, drift_reply = replies[0], replies[1]
    period_replies = replies[2 : 2 + len(per_period)]
    category_replies = replies[2 + len(per_period) :]
    timeline = [
        (label, r.result.get("overall") if r.ok else None)
        for (label, _, _), r in zip(periods, period_replies, strict=True)
    ]
    rows = [
        (c, r.result.get("overall") if r.ok else None)
        for c, r in zip([c for c in CATEGORIES if not category], category_replies, strict=True)
    ]
    diagram = charts.reliability(overall.result.get("byConfidenceBucket", [])) if overall.ok else None
    return view.render(
        "calibration.html",
        nav="calibration",
        project=project,
        category=category,
        window=window,
        windows=WINDOWS,
        categories=CATEGORIES,
        overall=overall,
        drift=drift_reply,
        diagram=diagram,
        brier=charts.over_time(timeline, "brierScore", "Brier score"),
        accuracy=charts.over_time(timeline, "accuracy", "Accuracy"),
        timeline=timeline,
        rows=[(c, o) for c, o in rows if o and o.get("totalDecisions")],
    )
