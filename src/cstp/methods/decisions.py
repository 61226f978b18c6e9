"""cstp.recordDecision, cstp.getDecision, cstp.reviewDecision, cstp.reindex."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

from cstp.domain import codec
from cstp.domain.compaction import level_of
from cstp.domain.decisions import ReviewInput
from cstp.domain.errors import (
    AmbiguousId,
    DecisionNotFound,
    EmbedderUnavailable,
    InvalidInput,
    StoreUnavailable,
)
from cstp.domain.records import (
    Category,
    DecisionDraft,
    MentalState,
    OutcomeValue,
    Reason,
    ReasonType,
    Stakes,
    utcnow,
)
from cstp.methods.context import CallContext, write_slot
from cstp.methods.guardrails import GuardrailWarning, guardrail_warnings
from cstp.methods.rows import project_context_dict
from cstp.methods.wire import (
    Confidence,
    DecisionId,
    FreeForm,
    FreeFormList,
    Int,
    Params,
    Result,
    alias,
    bounded_json,
)
from cstp.rpc.table import MethodSpec

_STORE_ERRORS = (StoreUnavailable,)


MAX_REVIEW_DAYS = 3650  # ten years: beyond it no date arithmetic overflows, and no review is meant


def parse_review_in(value: str) -> timedelta:
    """`"<int>d|w|m"` → timedelta (m = 30 days), at most MAX_REVIEW_DAYS either way. The count may
    be signed, as the reference's `int()` allows: `"-1d"` is a decision recorded after the fact
    whose review is already due."""
    value = value.strip().lower()
    unit = value[-1:] if value else ""
    days = {"d": 1, "w": 7, "m": 30}.get(unit)
    number = re.fullmatch(r"([+-]?)(\d+)", value[:-1].strip()) if days else None
    if days is None or number is None or not number[2].isascii():
        raise InvalidInput('reviewIn must look like "7d", "2w", "1m" or "-1d"', field="reviewIn")
    total = int(number[1] + number[2]) * days if len(number[2]) <= 9 else MAX_REVIEW_DAYS + 1
    if abs(total) > MAX_REVIEW_DAYS:
        raise InvalidInput(f"reviewIn must be at most {MAX_REVIEW_DAYS} days", field="reviewIn")
    return timedelta(days=total)


class ReasonParam(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    type: ReasonType = "analysis"
    text: str = Field(min_length=1, max_length=4000)
    strength: Confidence = 0.8


def _not_blank(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be empty or whitespace")
    return v


def _clean_tags(v: list[str]) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in v if t.strip()))


# The field types of what a decision says, shared by recordDecision and updateDecision (one rule
# per field, whichever method sets it).
DecisionText = Annotated[str, Field(min_length=1, max_length=20_000), AfterValidator(_not_blank)]
ContextText = Annotated[str, Field(max_length=20_000)]
PatternText = Annotated[str, Field(max_length=2000)]
Reasons = Annotated[list[ReasonParam], Field(max_length=100)]
Tags = Annotated[list[str], Field(max_length=100), AfterValidator(_clean_tags)]
Bridge = FreeForm


class ProjectFields(BaseModel):
    """Where a decision applies; accepted at top level and nested as `project_context`."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    project: str | None = None
    feature: str | None = None
    pr: Int | None = None
    file: str | None = None
    line: Int | None = None
    commit: str | None = None


class ProjectContext(ProjectFields):
    pass


class RecordParams(Params, ProjectFields):
    decision: DecisionText
    confidence: Confidence | None = None
    category: Category = "process"
    stakes: Stakes = "medium"
    context: ContextText | None = None
    reasons: Reasons = Field(default_factory=list)
    tags: Tags = Field(default_factory=list)
    pattern: PatternText | None = None
    trace: Annotated[list[dict[str, Any]], AfterValidator(bounded_json)] | None = None
    deliberation: FreeForm | None = None
    bridge: Bridge | None = None
    kpi_indicators: FreeFormList | FreeForm | None = alias("kpiIndicators", "kpi_indicators")
    mental_state: MentalState | None = alias("mentalState", "mental_state")
    review_in: str | None = alias("reviewIn", "review_in")
    pre_decision: FreeForm | None = alias("preDecision", "pre_decision")
    project_context: ProjectContext | None = alias("project_context", "projectContext")

    @field_validator("review_in")
    @classmethod
    def _review_in(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_review_in(value)
            except InvalidInput as e:
                raise ValueError(str(e)) from None
        return value

    def to_draft(self) -> DecisionDraft:
        """The domain draft. Nested project_context (scripts/cstp.py) fills what top-level fields
        leave unset; the long-tail keys go to `details` verbatim."""
        pc = self.project_context or ProjectContext()
        details = {
            key: value
            for key, value in (
                ("trace", self.trace),
                ("deliberation", self.deliberation),
                ("bridge", self.bridge),
                ("kpi_indicators", self.kpi_indicators),
                ("mental_state", self.mental_state),
                ("pre_decision", self.pre_decision),
            )
            if value is not None
        }
        return DecisionDraft(
            decision=self.decision.strip(),
            confidence=0.5 if self.confidence is None else self.confidence,
            category=self.category,
            stakes=self.stakes,
            context=self.context,
            reasons=tuple(Reason(r.type, r.text, r.strength) for r in self.reasons),
            tags=tuple(self.tags),
            pattern=self.pattern,
            project=self.project or pc.project,
            feature=self.feature or pc.feature,
            pr=self.pr if self.pr is not None else pc.pr,
            file=self.file or pc.file,
            line=self.line if self.line is not None else pc.line,
            commit=self.commit or pc.commit,
            details=details,
        )

    def review_after(self) -> timedelta | None:
        return parse_review_in(self.review_in) if self.review_in else None


class Quality(Result):
    score: float
    suggestions: list[str]


class RecordResult(Result):
    success: bool
    id: str
    path: str
    indexed: bool
    timestamp: str
    quality: Quality
    guardrail_warnings: list[GuardrailWarning] | None = None  # set only when a record rule fired


def record_decision(
    p: RecordParams, ctx: CallContext, complete: Callable[[], RecordParams] | None = None
) -> RecordResult:
    """`complete()`, when given, returns the params with what the caller was still waiting for
    (deliberation capture: the tracked inputs), called once the draft of `p` is embedded (see
    `DecisionService.record`)."""
    recorded = ctx.services.decisions.record(
        p.to_draft(),
        ctx.agent,
        review_in=p.review_after(),
        complete=None if complete is None else lambda draft: complete().to_draft(),
    )
    d = recorded.decision
    result = RecordResult(
        success=True,
        id=d.id,
        path=f"cstp://decisions/{d.id}",
        indexed=recorded.indexed,
        timestamp=d.date.isoformat(),
        quality=Quality(score=recorded.quality_score, suggestions=list(recorded.suggestions)),
    )
    if recorded.warnings:
        result.guardrail_warnings = guardrail_warnings(recorded.warnings)
    return result


class ByIdParams(Params):
    """Params naming one decision: `id`, or `decision_id` / `decisionId` as clients send it."""

    id: DecisionId = Field(validation_alias=AliasChoices("id", "decision_id", "decisionId"))


class GetParams(ByIdParams):
    pass


class GetResult(Result):
    found: bool
    decision: dict[str, Any] | None = None  # the stored record, exactly as kept (domain.codec)
    id: str | None = None
    error: str | None = None


def get_decision(p: GetParams, ctx: CallContext) -> GetResult:
    found = ctx.services.decisions.find(p.id)
    if found is None:
        return GetResult(found=False, id=p.id, error=f"Decision not found: {p.id}")
    # getDecision returns the persistence record on purpose: the reference's clients read it raw,
    # plus the nested `project_context` the dashboard's project card reads (methods.rows).
    record = codec.to_record(found)
    if (pc := project_context_dict(found)) is not None:
        record["project_context"] = pc
    return GetResult(found=True, decision=record)


class ReviewParams(ByIdParams):
    outcome: OutcomeValue
    actual_result: str | None = alias("actualResult", "actual_result")
    lessons: str | None = None
    notes: str | None = None
    affected_kpis: dict[str, float] | None = alias("affectedKpis", "affected_kpis")


class ReviewResult(Result):
    success: bool
    id: str
    path: str
    status: str
    reviewed_at: str = Field(serialization_alias="reviewedAt")
    reindexed: bool
    compaction_level: str = Field(serialization_alias="compactionLevel")  # now that it is reviewed


def review_decision(p: ReviewParams, ctx: CallContext) -> ReviewResult:
    review = ReviewInput(p.outcome, p.actual_result, p.lessons, p.notes, p.affected_kpis)
    with write_slot(ctx):
        reviewed, indexed = ctx.services.decisions.review(p.id, review, ctx.agent)
    assert reviewed.review is not None
    return ReviewResult(
        success=True,
        id=reviewed.id,
        path=f"cstp://decisions/{reviewed.id}",
        status="reviewed",
        reviewed_at=reviewed.review.reviewed_at.isoformat(),
        reindexed=indexed,
        compaction_level=level_of(reviewed, utcnow()),
    )


class NoParams(Params):
    pass


class ReindexResult(Result):
    success: bool
    decisions_indexed: int = Field(serialization_alias="decisionsIndexed")
    errors: int
    duration_ms: int = Field(serialization_alias="durationMs")
    message: str


def reindex(p: NoParams, ctx: CallContext) -> ReindexResult:
    report = ctx.services.decisions.reindex()
    return ReindexResult(
        success=report.errors == 0,
        decisions_indexed=report.indexed,
        errors=report.errors,
        duration_ms=report.duration_ms,
        message=f"Re-indexed {report.indexed} decisions"
        + (f"; {report.errors} could not be embedded" if report.errors else ""),
    )


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.recordDecision",
        RecordParams,
        record_decision,
        result=RecordResult,
        summary="Record a decision",
        errors=(InvalidInput, *_STORE_ERRORS),
    ),
    MethodSpec(
        "cstp.getDecision",
        GetParams,
        get_decision,
        result=GetResult,
        summary="Fetch one decision by id",
        errors=(AmbiguousId, *_STORE_ERRORS),
    ),
    MethodSpec(
        "cstp.reviewDecision",
        ReviewParams,
        review_decision,
        result=ReviewResult,
        summary="Record a decision's outcome",
        errors=(DecisionNotFound, AmbiguousId, *_STORE_ERRORS),
    ),
    MethodSpec(
        "cstp.reindex",
        NoParams,
        reindex,
        result=ReindexResult,
        summary="Rebuild the vector index from stored decisions",
        errors=(EmbedderUnavailable, *_STORE_ERRORS),
    ),
)
