"""cstp.getReasonStats: params, the wire result, and the handler.

`scripts/cstp.py reason-stats` reads every key here and multiplies `successRate` by 100, so a
reason type's rate is always a number (0.0 when nothing is reviewed); only a diversity bucket
without reviewed decisions has `successRate: null`, as in the reference. `brierScore` is absent,
not null, where there are too few reviews to score.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cstp.domain.errors import StoreUnavailable
from cstp.domain.filters import DecisionFilter
from cstp.domain.reason_stats import ReasonStats, reason_stats
from cstp.domain.records import Category, Stakes, utcnow
from cstp.methods.calibration import Recommendation
from cstp.methods.context import CallContext
from cstp.methods.wire import Int, Params, Result
from cstp.rpc.table import MethodSpec


def day_start(dt: datetime) -> datetime:
    """Midnight UTC of the day `dt` names: the reference compares dates as `YYYY-MM-DD` strings."""
    return datetime(dt.year, dt.month, dt.day, tzinfo=UTC)


def day_end(dt: datetime) -> datetime:
    return day_start(dt) + timedelta(days=1) - timedelta(microseconds=1)


class ReasonStatsFilters(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    category: Category | None = None
    stakes: Stakes | None = None
    project: str | None = None
    since: datetime | None = None  # whole days: since's day and until's day are both included
    until: datetime | None = None


class ReasonStatsParams(Params):
    filters: ReasonStatsFilters = Field(default_factory=ReasonStatsFilters)
    min_reviewed: Int = Field(default=3, validation_alias="minReviewed")  # camelCase only

    def to_filter(self) -> DecisionFilter:
        f = self.filters
        return DecisionFilter(
            category=f.category,
            stakes=(f.stakes,) if f.stakes else (),
            project=f.project,
            date_after=day_start(f.since) if f.since else None,
            date_before=day_end(f.until) if f.until else None,
        )


class ReasonTypeResult(Result):
    reason_type: str = Field(serialization_alias="reasonType")
    total_uses: int = Field(serialization_alias="totalUses")
    reviewed_uses: int = Field(serialization_alias="reviewedUses")
    success_count: int = Field(serialization_alias="successCount")
    partial_count: int = Field(serialization_alias="partialCount")
    failure_count: int = Field(serialization_alias="failureCount")
    success_rate: float = Field(serialization_alias="successRate")
    avg_confidence: float = Field(serialization_alias="avgConfidence")
    avg_strength: float = Field(serialization_alias="avgStrength")
    brier_score: float | None = Field(default=None, serialization_alias="brierScore")


class DiversityBucketResult(Result):
    distinct_reason_types: int = Field(serialization_alias="distinctReasonTypes")
    total_decisions: int = Field(serialization_alias="totalDecisions")
    reviewed_decisions: int = Field(serialization_alias="reviewedDecisions")
    success_rate: float | None = Field(serialization_alias="successRate")
    avg_confidence: float = Field(serialization_alias="avgConfidence")
    brier_score: float | None = Field(default=None, serialization_alias="brierScore")


class DiversityResult(Result):
    avg_types_per_decision: float = Field(serialization_alias="avgTypesPerDecision")
    avg_reasons_per_decision: float = Field(serialization_alias="avgReasonsPerDecision")
    diversity_buckets: list[DiversityBucketResult] = Field(serialization_alias="diversityBuckets")


class ReasonStatsResult(Result):
    by_reason_type: list[ReasonTypeResult] = Field(serialization_alias="byReasonType")
    diversity: DiversityResult
    recommendations: list[Recommendation]
    total_decisions: int = Field(serialization_alias="totalDecisions")
    reviewed_decisions: int = Field(serialization_alias="reviewedDecisions")
    query_time: str = Field(serialization_alias="queryTime")


def to_result(s: ReasonStats, now: datetime) -> ReasonStatsResult:
    types = []
    for t in s.by_type:
        row = ReasonTypeResult(
            reason_type=t.reason_type,
            total_uses=t.total_uses,
            reviewed_uses=t.reviewed_uses,
            success_count=t.success_count,
            partial_count=t.partial_count,
            failure_count=t.failure_count,
            success_rate=round(t.success_rate, 3),
            avg_confidence=round(t.avg_confidence, 3),
            avg_strength=round(t.avg_strength, 3),
        )
        if t.brier is not None:
            row.brier_score = round(t.brier, 4)
        types.append(row)
    buckets = []
    for b in s.diversity.buckets:
        bucket = DiversityBucketResult(
            distinct_reason_types=b.distinct_types,
            total_decisions=b.total_decisions,
            reviewed_decisions=b.reviewed_decisions,
            success_rate=None if b.success_rate is None else round(b.success_rate, 3),
            avg_confidence=round(b.avg_confidence, 3),
        )
        if b.brier is not None:
            bucket.brier_score = round(b.brier, 4)
        buckets.append(bucket)
    return ReasonStatsResult(
        by_reason_type=types,
        diversity=DiversityResult(
            avg_types_per_decision=round(s.diversity.avg_types_per_decision, 2),
            avg_reasons_per_decision=round(s.diversity.avg_reasons_per_decision, 2),
            diversity_buckets=buckets,
        ),
        recommendations=[
            Recommendation(type=a.type, message=a.message, severity=a.severity) for a in s.advice
        ],
        total_decisions=s.total_decisions,
        reviewed_decisions=s.reviewed_decisions,
        query_time=now.isoformat(),
    )


def get_reason_stats(p: ReasonStatsParams, ctx: CallContext) -> ReasonStatsResult:
    now = utcnow()
    decisions = ctx.services.decisions.scan(p.to_filter())
    # A type needs at least one review to be scored (the reference's 0 would rank unreviewed types).
    return to_result(reason_stats(decisions, min_reviewed=max(1, p.min_reviewed)), now)


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.getReasonStats",
        ReasonStatsParams,
        get_reason_stats,
        result=ReasonStatsResult,
        summary="Which reason types and how many independent ones go with good outcomes",
        errors=(StoreUnavailable,),
    ),
)
