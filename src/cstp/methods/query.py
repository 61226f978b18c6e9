"""cstp.queryDecisions: semantic, keyword, hybrid and list retrieval with every filter."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cstp.domain.compaction import level_of
from cstp.domain.errors import EmbedderUnavailable, InvalidInput, StoreUnavailable
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Category, Stakes, Status, aware, utcnow
from cstp.domain.search import Hit
from cstp.methods.context import CallContext
from cstp.methods.rows import ProjectContextOut, bridge_of, project_context
from cstp.methods.wire import Confidence, Int, Number, Params, Result, alias, day
from cstp.rpc.table import MethodSpec


class Filters(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)
    category: Category | None = None
    min_confidence: Confidence | None = alias("minConfidence", "min_confidence")
    max_confidence: Confidence | None = alias("maxConfidence", "max_confidence")
    date_after: datetime | None = alias("dateAfter", "date_after")
    date_before: datetime | None = alias("dateBefore", "date_before")
    stakes: list[Stakes] | None = None
    status: list[Status] | None = None
    project: str | None = None
    feature: str | None = None
    pr: Int | None = None
    has_outcome: bool | None = alias("hasOutcome", "has_outcome")
    tags: list[str] | None = None
    agent: str | None = None

    @field_validator("stakes", "status", "tags", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class QueryParams(Params):
    query: str = Field(default="", max_length=10_000)
    limit: Int | None = alias("limit", "top_k", "topK")
    retrieval_mode: Literal["semantic", "keyword", "hybrid"] | None = alias("retrievalMode", "retrieval_mode")
    hybrid_weight: Number | None = alias("hybridWeight", "hybrid_weight")
    bridge_side: str | None = alias("bridgeSide", "bridge_side")
    include_reasons: bool = Field(default=False, alias="includeReasons")
    include_detail: bool | None = alias("includeDetail", "include_detail")
    # Annotate each row with its compaction level and leave out wisdom-age rows (read via getWisdom).
    compacted: bool = False
    filters: Filters = Field(default_factory=Filters)
    # The dashboard sends these at top level; they narrow like the same keys in `filters`.
    category: Category | None = None
    project: str | None = None
    has_outcome: bool | None = alias("hasOutcome", "has_outcome")

    def to_filter(self) -> DecisionFilter:
        f = self.filters
        if f.min_confidence is not None and f.max_confidence is not None:
            if f.min_confidence > f.max_confidence:
                raise InvalidInput(
                    "filters.minConfidence must not exceed filters.maxConfidence",
                    field="filters.minConfidence",
                )
        return DecisionFilter(
            category=f.category or self.category,
            min_confidence=f.min_confidence,
            max_confidence=f.max_confidence,
            date_after=aware(f.date_after) if f.date_after else None,
            date_before=aware(f.date_before) if f.date_before else None,
            stakes=tuple(f.stakes or ()),
            statuses=tuple(f.status or ()),
            project=f.project or self.project,
            feature=f.feature,
            pr=f.pr,
            has_outcome=f.has_outcome if f.has_outcome is not None else self.has_outcome,
            tags=tuple(f.tags or ()),
            recorded_by=f.agent,
        )


class Bridge(Result):
    structure: str | None
    function: str | None


class Row(Result):
    """One hit. Optional keys are present only when the decision has them (as the reference)."""

    id: str
    title: str
    summary: str  # the decision text: the dashboard reads `summary`, then `decision`, never `title`
    category: str
    confidence: float
    stakes: str
    status: str
    date: str
    created_at: str  # full ISO date-time (the dashboard reads it before the day-only `date`)
    distance: float
    outcome: str | None = None
    reasons: list[dict[str, Any]] | None = None
    tags: list[str] | None = None
    pattern: str | None = None
    project: str | None = None
    actual_result: str | None = Field(default=None, serialization_alias="actualResult")
    lessons: str | None = None
    bridge: Bridge | None = None
    compaction_level: str | None = Field(default=None, serialization_alias="compactionLevel")
    recorded_by: str | None = None
    project_context: ProjectContextOut | None = None  # only when a project field is set


def _row(h: Hit, p: QueryParams) -> Row:
    d = h.decision
    row = Row(
        id=d.id,
        title=d.title,
        summary=d.decision,
        category=d.category,
        confidence=d.confidence,
        stakes=d.stakes,
        status=d.status,
        date=day(d.date),
        created_at=d.date.isoformat(),
        distance=h.distance,
    )
    if d.outcome:
        row.outcome = d.outcome
    if p.include_reasons and d.reasons:
        row.reasons = [{"type": r.type, "text": r.text, "strength": r.strength} for r in d.reasons]
    if d.tags:
        row.tags = list(d.tags)
    if d.pattern:
        row.pattern = d.pattern
    if d.project:
        row.project = d.project
    if p.include_detail and d.review and d.review.actual_result:
        row.actual_result = d.review.actual_result
    if d.review and d.review.lessons:
        row.lessons = d.review.lessons
    if (bridge := bridge_of(d)) is not None:
        row.bridge = Bridge(structure=bridge.get("structure"), function=bridge.get("function"))
    if d.recorded_by is not None:
        row.recorded_by = d.recorded_by
    if (pc := project_context(d)) is not None:
        row.project_context = pc
    return row


class QueryResult(Result):
    decisions: list[Row]
    total: int
    query: str
    query_time_ms: int = Field(serialization_alias="queryTimeMs")
    agent: str
    retrieval_mode: str = Field(serialization_alias="retrievalMode")
    scores: dict[str, Any] | None = None  # per-id score breakdown, keyword and hybrid modes only


def query_decisions(p: QueryParams, ctx: CallContext) -> QueryResult:
    started = time.perf_counter()
    flt = p.to_filter()
    listing = not p.query.strip()
    mode = "list" if listing else (p.retrieval_mode or "semantic")
    limit = p.limit if p.limit is not None else 10
    limit = max(1, min(limit, 500 if listing else 50))
    weight = max(0.0, min(1.0, p.hybrid_weight if p.hybrid_weight is not None else 0.7))
    prefix = {"structure": "Structure: ", "function": "Function: "}.get(p.bridge_side or "", "")
    result = ctx.services.search.search(p.query, mode, flt, limit, weight, prefix)
    now = utcnow()  # one clock for every row's compaction level
    rows = []
    for h in result.hits:
        row = _row(h, p)
        if p.compacted:
            row.compaction_level = level_of(h.decision, now)
            if row.compaction_level == "wisdom":
                continue
        rows.append(row)
    out = QueryResult(
        decisions=rows,
        total=len(rows),
        query=p.query,
        query_time_ms=int((time.perf_counter() - started) * 1000),
        agent=ctx.services.agent_name,
        retrieval_mode=result.mode,
    )
    if result.scores:
        out.scores = result.scores
    return out


# A list page this long or shorter is worth answering on the event loop (see `listing_page`).
INLINE_LIST_MAX = 50


def listing_page(params: Any) -> bool:
    """Whether these raw params ask for a list-mode page of at most INLINE_LIST_MAX rows: the
    browse catalogue answers it from memory (the ids) and the recent-records cache (the records),
    so the web layer tries it on the event loop (`MethodSpec.inline_if`; where it would read the
    store after all, it runs again on a worker thread). Under the mixed load that took list mode's
    median from 24-29 ms to 8-13 ms. Other modes embed the query or rank with the keyword index,
    and a long page costs the event loop its rows' encoding."""
    if not isinstance(params, dict):
        return False
    query, limit = params.get("query", ""), params.get("limit", 10)
    small = limit is None or (isinstance(limit, int) and limit <= INLINE_LIST_MAX)
    return isinstance(query, str) and not query.strip() and small


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.queryDecisions",
        QueryParams,
        query_decisions,
        result=QueryResult,
        errors=(InvalidInput, StoreUnavailable, EmbedderUnavailable),
        summary="Find similar past decisions (semantic, keyword, hybrid, or list with filters)",
        inline_if=listing_page,
    ),
)
