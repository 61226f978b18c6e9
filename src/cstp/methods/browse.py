"""cstp.listDecisions and cstp.getStats: the dashboard's decision table and overview counts.

Params follow the reference's clients (single-string category/stakes/status, `dateFrom`/`date_from`
and `dateTo`/`date_to`, a date-only `dateTo` meaning that whole day); rows carry every key
`dashboard/models.py` reads. The selection, order and paging are `domain.browse`'s.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from pydantic import Field, field_validator

from cstp.domain import browse
from cstp.domain.errors import InvalidInput, StoreUnavailable
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Category, Decision, Stakes, Status, aware, utcnow
from cstp.methods.context import CallContext
from cstp.methods.rows import ProjectContextOut, bridge_of, project_context
from cstp.methods.wire import Int, Params, Result, alias
from cstp.rpc.table import MethodSpec

LIMIT_DEFAULT, LIMIT_MAX = 20, 500
_DAY_END = time(23, 59, 59, 999999)


def parse_when(value: str, field: str, *, end_of_day: bool = False) -> datetime:
    """An ISO date or date-time (naive = UTC). A bare date is its first instant, or with
    `end_of_day` its last one, so `dateTo: "2026-02-16"` includes all of that day."""
    text = value.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day, _DAY_END if end_of_day else time(), tzinfo=UTC)
    try:
        return aware(datetime.fromisoformat(text))
    except ValueError:
        raise InvalidInput(
            f"{field} must be an ISO date (YYYY-MM-DD) or date-time, got {value[:40]!r}", field=field
        ) from None


class RangeParams(Params):
    """The date range and project both methods accept."""

    date_from: str | None = alias("dateFrom", "date_from")
    date_to: str | None = alias("dateTo", "date_to")
    project: str | None = None

    @field_validator("date_from", "date_to", "project", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: Any) -> Any:
        return None if v == "" else v

    def to_filter(self, **more: Any) -> DecisionFilter:
        after = parse_when(self.date_from, "dateFrom") if self.date_from else None
        before = parse_when(self.date_to, "dateTo", end_of_day=True) if self.date_to else None
        if after is not None and before is not None and after > before:
            raise InvalidInput("dateFrom must not be later than dateTo", field="dateFrom")
        return DecisionFilter(date_after=after, date_before=before, project=self.project, **more)


class ListParams(RangeParams):
    limit: Int | None = None
    offset: Int | None = None
    category: Category | None = None
    stakes: Stakes | None = None
    status: Status | None = None
    agent: str | None = None
    tags: list[str] | None = None
    search: str | None = Field(default=None, max_length=10_000)
    sort: Any = None  # unknown or missing: created_at (as the reference)
    order: Any = None  # "asc" (any case) or else descending

    @field_validator("category", "stakes", "status", "agent", "search", mode="before")
    @classmethod
    def _blank_filter_is_unset(cls, v: Any) -> Any:
        return None if v == "" else v

    @field_validator("tags", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    def to_query(self) -> browse.ListQuery:
        flt = self.to_filter(
            category=self.category,
            stakes=(self.stakes,) if self.stakes else (),
            statuses=(self.status,) if self.status else (),
            recorded_by=self.agent,
            tags=tuple(t for t in self.tags or () if t),
        )
        sort: browse.SortKey = "created_at"
        for key in browse.SORT_KEYS:
            if key == self.sort:
                sort = key
        descending = not (isinstance(self.order, str) and self.order.lower() == "asc")
        limit = LIMIT_DEFAULT if self.limit is None else max(1, min(self.limit, LIMIT_MAX))
        offset = max(0, self.offset or 0)
        return browse.ListQuery(flt, self.search, sort, descending, limit, offset)


class ReasonOut(Result):
    type: str
    text: str
    strength: float


class DecisionRow(Result):
    """One decision as the reference's listing returns it (raw snake_case keys; absent values null)."""

    id: str
    decision: str
    summary: str
    confidence: float
    category: str
    stakes: str
    status: str
    context: str | None
    recorded_by: str | None
    project: str | None
    feature: str | None
    pr: int | None
    pattern: str | None
    outcome: str | None
    actual_result: str | None
    lessons: str | None
    review_notes: str | None
    reviewed_at: str | None
    created_at: str
    date: str
    updated_at: str  # the last change cstp knows of: the review, else the recording
    tags: list[str]
    reasons: list[ReasonOut]
    bridge: dict[str, Any] | None = None  # only when the decision has one
    project_context: ProjectContextOut | None = None  # only when a project field is set


def decision_row(d: Decision) -> DecisionRow:
    review = d.review
    created = d.date.isoformat()
    row = DecisionRow(
        id=d.id,
        decision=d.decision,
        summary=d.decision,
        confidence=d.confidence,
        category=d.category,
        stakes=d.stakes,
        status=d.status,
        context=d.context,
        recorded_by=d.recorded_by,
        project=d.project,
        feature=d.feature,
        pr=d.pr,
        pattern=d.pattern,
        outcome=d.outcome,
        actual_result=review.actual_result if review else None,
        lessons=review.lessons if review else None,
        review_notes=review.review_notes if review else None,
        reviewed_at=review.reviewed_at.isoformat() if review else None,
        created_at=created,
        date=created,
        updated_at=review.reviewed_at.isoformat() if review else created,
        tags=list(d.tags),
        reasons=[ReasonOut(type=r.type, text=r.text, strength=r.strength) for r in d.reasons],
    )
    if (bridge := bridge_of(d)) is not None:
        row.bridge = bridge
    if (pc := project_context(d)) is not None:
        row.project_context = pc
    return row


class ListResult(Result):
    decisions: list[DecisionRow]
    total: int
    limit: int
    offset: int


def list_decisions(p: ListParams, ctx: CallContext) -> ListResult:
    query = p.to_query()
    page = ctx.services.browse.list(query)
    return ListResult(
        decisions=[decision_row(d) for d in page.decisions],
        total=page.total,
        limit=query.limit,
        offset=query.offset,
    )


class StatsParams(RangeParams):
    pass


class DayCount(Result):
    date: str
    count: int


class TagCount(Result):
    tag: str
    count: int


class RecentActivity(Result):
    last24h: int
    last7d: int
    last30d: int


class StatsResult(Result):
    total: int
    by_category: dict[str, int] = Field(serialization_alias="byCategory")
    by_stakes: dict[str, int] = Field(serialization_alias="byStakes")
    by_status: dict[str, int] = Field(serialization_alias="byStatus")
    by_agent: dict[str, int] = Field(serialization_alias="byAgent")
    by_day: list[DayCount] = Field(serialization_alias="byDay")
    top_tags: list[TagCount] = Field(serialization_alias="topTags")
    recent_activity: RecentActivity = Field(serialization_alias="recentActivity")


def get_stats(p: StatsParams, ctx: CallContext) -> StatsResult:
    s = ctx.services.browse.stats(p.to_filter(), utcnow())
    return StatsResult(
        total=s.total,
        by_category=s.by_category,
        by_stakes=s.by_stakes,
        by_status=s.by_status,
        by_agent=s.by_agent,
        by_day=[DayCount(date=day, count=n) for day, n in s.by_day],
        top_tags=[TagCount(tag=tag, count=n) for tag, n in s.top_tags],
        recent_activity=RecentActivity(last24h=s.last_24h, last7d=s.last_7d, last30d=s.last_30d),
    )


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.listDecisions",
        ListParams,
        list_decisions,
        result=ListResult,
        summary="List decisions with filters, text search, sorting and paging",
        errors=(InvalidInput, StoreUnavailable),
    ),
    MethodSpec(
        "cstp.getStats",
        StatsParams,
        get_stats,
        result=StatsResult,
        summary="Decision counts by category, stakes, status, agent, day and tag",
        errors=(InvalidInput, StoreUnavailable),
    ),
)
