"""cstp.checkDrift and cstp.attributeOutcomes (with getReasonStats, the analytics group).

checkDrift's params are all top-level camelCase, as the dashboard's `/calibration` page sends them;
it reads `driftDetected`, `alerts[].type/.message`, `recent`/`historical` `.window/.decisions/
.accuracy/.brierScore` and `recommendations[].message`. attributeOutcomes has no client; its shape
is the reference's.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from pydantic import Field

from cstp.domain.attribution import attribute_outcomes as attribute
from cstp.domain.drift import DriftReport, WindowStats, check_drift, check_drift_scores, drift_filter
from cstp.domain.errors import InvalidInput, StoreUnavailable
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Category, utcnow
from cstp.methods import reason_stats
from cstp.methods.calibration import Recommendation
from cstp.methods.context import CallContext
from cstp.methods.reason_stats import day_start
from cstp.methods.wire import Int, Number, Params, Result
from cstp.rpc.table import MethodSpec

# --- checkDrift ----------------------------------------------------------------------------------


class DriftParams(Params):
    threshold_brier: Number = Field(default=0.20, ge=0, validation_alias="thresholdBrier")
    threshold_accuracy: Number = Field(default=0.15, ge=0, validation_alias="thresholdAccuracy")
    category: Category | None = None
    project: str | None = None
    min_decisions: Int = Field(default=5, validation_alias="minDecisions")


class WindowResult(Result):
    window: str
    brier_score: float = Field(serialization_alias="brierScore")
    accuracy: float
    decisions: int


class AlertResult(Result):
    type: str
    category: str | None
    recent_value: float = Field(serialization_alias="recentValue")
    historical_value: float = Field(serialization_alias="historicalValue")
    change_pct: float = Field(serialization_alias="changePct")
    severity: str
    message: str


class DriftResult(Result):
    drift_detected: bool = Field(serialization_alias="driftDetected")
    recent: WindowResult | None
    historical: WindowResult | None
    alerts: list[AlertResult]
    recommendations: list[Recommendation]


def _window(w: WindowStats | None) -> WindowResult | None:
    if w is None:
        return None
    return WindowResult(
        window=w.window, brier_score=round(w.brier, 4), accuracy=round(w.accuracy, 4), decisions=w.decisions
    )


def drift_result(r: DriftReport) -> DriftResult:
    return DriftResult(
        drift_detected=r.drift_detected,
        recent=_window(r.recent),
        historical=_window(r.historical),
        alerts=[
            AlertResult(
                type=a.type,
                category=a.category,
                recent_value=round(a.recent_value, 4),
                historical_value=round(a.historical_value, 4),
                change_pct=round(a.change_pct, 1),
                severity=a.severity,
                message=a.message,
            )
            for a in r.alerts
        ],
        recommendations=[
            Recommendation(type=a.type, message=a.message, severity=a.severity) for a in r.advice
        ],
    )


def check_drift_method(p: DriftParams, ctx: CallContext) -> DriftResult:
    now = utcnow()
    flt = drift_filter(DecisionFilter(category=p.category, project=p.project), now)
    # From the browse catalogue when loaded (its scores say which decisions are reviewed), else a
    # scan of the store; both give the same report.
    scores = ctx.services.browse.scores(dataclasses.replace(flt, has_outcome=None))
    if scores is not None:
        report = check_drift_scores(
            scores,
            now=now,
            threshold_brier=p.threshold_brier,
            threshold_accuracy=p.threshold_accuracy,
            category=p.category,
            min_decisions=p.min_decisions,
        )
        return drift_result(report)
    report = check_drift(
        ctx.services.decisions.scan(flt),
        now=now,
        threshold_brier=p.threshold_brier,
        threshold_accuracy=p.threshold_accuracy,
        category=p.category,
        min_decisions=p.min_decisions,
    )
    return drift_result(report)


# --- attributeOutcomes ---------------------------------------------------------------------------


class AttributeParams(Params):
    project: str | None = None  # required; checked in the handler for the reference's message
    since: datetime | None = None  # whole days: decisions dated on since's day or later
    # At most a century: the cutoff date must stay representable (a larger value is a client bug).
    stability_days: Int = Field(default=14, ge=0, le=36500, validation_alias="stabilityDays")
    dry_run: bool = Field(default=False, validation_alias="dryRun")


class AttributedResult(Result):
    id: str
    outcome: str
    reason: str
    path: str
    updated: bool


class AttributedCounts(Result):
    stable: int
    skipped: int


class AttributeResult(Result):
    processed: int
    attributed: AttributedCounts
    decisions: list[AttributedResult]
    query_time: str = Field(serialization_alias="queryTime")


def attribute_outcomes(p: AttributeParams, ctx: CallContext) -> AttributeResult:
    if not p.project or not p.project.strip():
        raise InvalidInput("project is required", field="project")
    now = utcnow()
    report = attribute(
        ctx.services.decisions,
        project=p.project,
        since=day_start(p.since) if p.since else None,
        stability_days=p.stability_days,
        dry_run=p.dry_run,
        agent=ctx.agent,
        now=now,
    )
    return AttributeResult(
        processed=report.processed,
        attributed=AttributedCounts(stable=report.stable, skipped=report.skipped),
        decisions=[
            AttributedResult(
                id=a.id,
                outcome=a.outcome,
                reason=a.reason,
                path=f"cstp://decisions/{a.id}",
                updated=a.updated,
            )
            for a in report.decisions
        ],
        query_time=now.isoformat(),
    )


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    *reason_stats.METHODS,
    MethodSpec(
        "cstp.checkDrift",
        DriftParams,
        check_drift_method,
        result=DriftResult,
        summary="Whether the last 30 days' calibration is worse than the 30 to 120 days before",
        errors=(StoreUnavailable,),
    ),
    MethodSpec(
        "cstp.attributeOutcomes",
        AttributeParams,
        attribute_outcomes,
        result=AttributeResult,
        summary="Mark a project's pending PR decisions older than stabilityDays as successes",
        errors=(InvalidInput, StoreUnavailable),
    ),
)
