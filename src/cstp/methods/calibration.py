"""cstp.getCalibration: params, the wire result, and the one clock read per call."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from cstp.domain.calibration import Calibration, calibrate, calibrate_scores, calibration_filter, period_for
from cstp.domain.errors import StoreUnavailable
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Category, Stakes, utcnow
from cstp.methods.context import CallContext
from cstp.methods.wire import Int, Params, Result, alias
from cstp.rpc.table import MethodSpec


class CalibrationFilters(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)
    agent: str | None = None
    category: Category | None = None
    stakes: Stakes | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_decisions: Int | None = alias("minDecisions", "min_decisions")
    project: str | None = None
    feature: str | None = None


class CalibrationParams(Params):
    filters: CalibrationFilters = Field(default_factory=CalibrationFilters)
    window: Literal["30d", "60d", "90d", "all"] | None = None
    group_by: str | None = alias("groupBy", "group_by")  # accepted, not used
    # scripts/cstp.py and the dashboard send these at top level; `filters` wins when both are set.
    project: str | None = None
    category: Category | None = None
    agent: str | None = None
    stakes: Stakes | None = None

    def to_filter(self) -> DecisionFilter:
        f = self.filters
        stakes = f.stakes or self.stakes
        return DecisionFilter(
            category=f.category or self.category,
            stakes=(stakes,) if stakes else (),
            project=f.project or self.project,
            feature=f.feature,
            recorded_by=f.agent or self.agent,
        )


class Overall(Result):
    brier_score: float = Field(serialization_alias="brierScore")
    accuracy: float
    total_decisions: int = Field(serialization_alias="totalDecisions")
    reviewed_decisions: int = Field(serialization_alias="reviewedDecisions")
    calibration_gap: float = Field(serialization_alias="calibrationGap")
    interpretation: str
    window: str | None = None
    period_start: str | None = Field(default=None, serialization_alias="periodStart")
    period_end: str | None = Field(default=None, serialization_alias="periodEnd")

    # scripts/cstp.py (the reference CLI) reads these snake_case copies; the dashboard the camelCase.
    @computed_field(alias="brier_score")  # type: ignore[prop-decorator]
    @property
    def brier_score_copy(self) -> float:
        return self.brier_score

    @computed_field(alias="total_decisions")  # type: ignore[prop-decorator]
    @property
    def total_decisions_copy(self) -> int:
        return self.total_decisions

    @computed_field(alias="reviewed_decisions")  # type: ignore[prop-decorator]
    @property
    def reviewed_decisions_copy(self) -> int:
        return self.reviewed_decisions

    @computed_field(alias="calibration_gap")  # type: ignore[prop-decorator]
    @property
    def calibration_gap_copy(self) -> float:
        return self.calibration_gap


class BucketResult(Result):
    bucket: str
    decisions: int
    success_rate: float = Field(serialization_alias="successRate")
    expected_rate: float = Field(serialization_alias="expectedRate")
    gap: float
    interpretation: str


class Recommendation(Result):
    type: str
    message: str
    severity: str


class ConfidenceStatsResult(Result):
    mean: float
    std_dev: float = Field(serialization_alias="stdDev")
    min: float
    max: float
    count: int
    bucket_counts: dict[str, int] = Field(serialization_alias="bucketCounts")


class CalibrationResult(Result):
    overall: Overall  # never null: see `_overall`
    by_confidence_bucket: list[BucketResult] = Field(serialization_alias="byConfidenceBucket")
    recommendations: list[Recommendation]
    query_time: str = Field(serialization_alias="queryTime")
    confidence_stats: ConfidenceStatsResult | None = Field(
        default=None, serialization_alias="confidenceStats"
    )


def _r(x: float) -> float:
    return round(x, 4)


INSUFFICIENT_DATA = "insufficient_data"


def _overall(c: Calibration, window_label: str | None) -> Overall:
    """The `overall` object. With too few reviewed decisions the reference sends `null`, which
    crashes its own dashboard (`CalibrationStats.from_dict` calls `.get` on it); cstp sends zero
    scores with `interpretation: "insufficient_data"` and the true counts instead."""
    if (o := c.overall) is not None:
        overall = Overall(
            brier_score=_r(o.brier),
            accuracy=_r(o.accuracy),
            total_decisions=o.total_decisions,
            reviewed_decisions=o.reviewed_decisions,
            calibration_gap=_r(o.gap),
            interpretation=o.interpretation,
        )
    else:
        overall = Overall(
            brier_score=0.0,
            accuracy=0.0,
            total_decisions=c.total_decisions,
            reviewed_decisions=c.reviewed_decisions,
            calibration_gap=0.0,
            interpretation=INSUFFICIENT_DATA,
        )
    if window_label:
        overall.window = window_label
    if c.period.start:
        overall.period_start = c.period.start.isoformat()
    if c.period.end:
        overall.period_end = c.period.end.isoformat()
    return overall


def to_result(c: Calibration, window_label: str | None) -> CalibrationResult:
    result = CalibrationResult(
        overall=_overall(c, window_label),
        by_confidence_bucket=[
            BucketResult(
                bucket=b.name,
                decisions=b.decisions,
                success_rate=_r(b.success_rate),
                expected_rate=_r(b.expected_rate),
                gap=_r(b.gap),
                interpretation=b.interpretation,
            )
            for b in c.buckets
        ],
        recommendations=[
            Recommendation(type=a.type, message=a.message, severity=a.severity) for a in c.advice
        ],
        query_time=c.computed_at.isoformat(),
    )
    if (s := c.confidence_stats) is not None:
        result.confidence_stats = ConfidenceStatsResult(
            mean=_r(s.mean),
            std_dev=_r(s.std_dev),
            min=s.min,
            max=s.max,
            count=s.count,
            bucket_counts=s.bucket_counts,
        )
    return result


def get_calibration(p: CalibrationParams, ctx: CallContext) -> CalibrationResult:
    now = utcnow()
    f = p.filters
    window = p.window if p.window != "all" else None
    period = period_for(window, f.since, f.until, now)
    flt = calibration_filter(p.to_filter(), period)
    min_decisions = max(1, f.min_decisions) if f.min_decisions is not None else 5
    # From the browse catalogue's columns when it is loaded (milliseconds at 100k decisions);
    # else from a scan of the store (the reference path; both give the same result).
    scores = ctx.services.browse.scores(flt)
    if scores is not None:
        found = calibrate_scores(scores, period=period, now=now, min_decisions=min_decisions)
        return to_result(found, p.window)
    decisions = ctx.services.decisions.scan(flt)
    return to_result(calibrate(decisions, period=period, now=now, min_decisions=min_decisions), p.window)


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.getCalibration",
        CalibrationParams,
        get_calibration,
        result=CalibrationResult,
        summary="Brier score and over/under-confidence of reviewed decisions",
        errors=(StoreUnavailable,),
    ),
)
