"""cstp.getCalibration."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cstp.domain.calibration import CalibrationQuery, calibrate
from cstp.domain.models import utcnow
from cstp.methods.context import CallContext
from cstp.methods.decisions import CategoryIn, StakesIn
from cstp.methods.wire import Int, Params, alias
from cstp.rpc.table import MethodSpec


class CalibrationFilters(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)
    agent: str | None = None
    category: CategoryIn | None = None
    stakes: StakesIn | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_decisions: Int | None = alias("minDecisions", "min_decisions")
    project: str | None = None
    feature: str | None = None


class CalibrationParams(Params):
    filters: CalibrationFilters = Field(default_factory=CalibrationFilters)
    window: Literal["30d", "60d", "90d", "all"] | None = None
    group_by: str | None = alias("groupBy", "group_by")  # accepted, not used
    # scripts/cstp.py and the dashboard send these at top level.
    project: str | None = None
    category: CategoryIn | None = None
    agent: str | None = None
    stakes: StakesIn | None = None


def get_calibration(p: CalibrationParams, ctx: CallContext) -> dict[str, Any]:
    f = p.filters
    q = CalibrationQuery(
        agent=f.agent or p.agent,
        category=f.category or p.category,
        stakes=f.stakes or p.stakes,
        project=f.project or p.project,
        feature=f.feature,
        since=f.since,
        until=f.until,
        min_decisions=max(1, f.min_decisions) if f.min_decisions is not None else 5,
        window=p.window if p.window != "all" else None,
    )
    result = calibrate(ctx.services.decisions.scan(q.store_filter(utcnow())), q)
    if p.window == "all" and result["overall"] is not None:
        result["overall"]["window"] = "all"
    return result


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.getCalibration",
        CalibrationParams,
        get_calibration,
        summary="Brier score and over/under-confidence of reviewed decisions",
    ),
)
