"""cstp.recordDecision, cstp.getDecision, cstp.reviewDecision, cstp.reindex."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from cstp.domain.decisions import NewDecision, ReviewInput, parse_review_in
from cstp.domain.errors import InvalidInput
from cstp.domain.guardrails import ActionContext
from cstp.domain.models import Category, MentalState, OutcomeValue, Reason, ReasonType, Stakes
from cstp.methods.context import CallContext
from cstp.methods.guardrails import guardrail_warnings
from cstp.methods.wire import Confidence, DecisionId, Int, Params, alias
from cstp.rpc.table import MethodSpec

# The wire accepts exactly the domain's vocabularies.
CategoryIn = Category
StakesIn = Stakes
ReasonTypeIn = ReasonType
OutcomeIn = OutcomeValue


class ReasonParam(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    type: ReasonTypeIn = "analysis"
    text: str = Field(min_length=1, max_length=4000)
    strength: Confidence = 0.8


class ProjectContext(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    project: str | None = None
    feature: str | None = None
    pr: Int | None = None
    file: str | None = None
    line: Int | None = None
    commit: str | None = None


class RecordParams(Params):
    decision: str = Field(min_length=1, max_length=20_000)
    confidence: Confidence | None = None
    category: CategoryIn = "process"
    stakes: StakesIn = "medium"
    context: str | None = Field(default=None, max_length=20_000)
    reasons: list[ReasonParam] = Field(default_factory=list, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=100)
    pattern: str | None = Field(default=None, max_length=2000)
    trace: list[dict[str, Any]] | None = None
    deliberation: dict[str, Any] | None = None
    bridge: dict[str, Any] | None = None
    kpi_indicators: list[Any] | dict[str, Any] | None = alias("kpiIndicators", "kpi_indicators")
    mental_state: MentalState | None = alias("mentalState", "mental_state")
    review_in: str | None = alias("reviewIn", "review_in")
    pre_decision: dict[str, Any] | None = alias("preDecision", "pre_decision")
    project: str | None = None
    feature: str | None = None
    pr: Int | None = None
    file: str | None = None
    line: Int | None = None
    commit: str | None = None
    project_context: ProjectContext | None = alias("project_context", "projectContext")

    @field_validator("decision")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty or whitespace")
        return v

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(t.strip() for t in v if t.strip()))

    @model_validator(mode="after")
    def _review_in(self) -> RecordParams:
        if self.review_in is not None:
            try:
                parse_review_in(self.review_in)
            except InvalidInput as e:
                raise ValueError(f"reviewIn: {e}") from None
        return self

    def to_domain(self) -> NewDecision:
        # Nested project_context (scripts/cstp.py) fills what top-level fields leave unset.
        pc = self.project_context or ProjectContext()
        details: dict[str, Any] = {}
        for key, value in (
            ("trace", self.trace),
            ("deliberation", self.deliberation),
            ("bridge", self.bridge),
            ("kpi_indicators", self.kpi_indicators),
            ("mental_state", self.mental_state),
            ("pre_decision", self.pre_decision),
        ):
            if value is not None:
                details[key] = value
        return NewDecision(
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
            review_in=parse_review_in(self.review_in) if self.review_in else None,
            details=details,
        )


def record_decision(p: RecordParams, ctx: CallContext) -> dict[str, Any]:
    svc = ctx.services
    new = p.to_domain()
    recorded = svc.decisions.record(new, ctx.agent)
    d = recorded.decision
    result: dict[str, Any] = {
        "success": True,
        "id": d.id,
        "path": f"cstp://decisions/{d.id}",
        "indexed": recorded.indexed,
        "timestamp": d.date.isoformat(),
        "quality": {"score": recorded.quality_score, "suggestions": list(recorded.suggestions)},
    }
    deliberation = d.details.get("deliberation")
    inputs = deliberation.get("inputs") if isinstance(deliberation, dict) else None
    action = ActionContext.for_record(
        description=d.decision,
        category=d.category,
        stakes=d.stakes,
        confidence=d.confidence,
        quality_score=recorded.quality_score,
        deliberation_inputs_count=len(inputs) if isinstance(inputs, list) else 0,
        has_deliberation=bool(deliberation),
        has_reasoning=bool(d.reasons) or bool(d.details.get("trace")),
        tags=d.tags,
        pattern=d.pattern,
        reason_count=len(d.reasons),
        project=d.project,
    )
    findings = svc.guardrails.check_record(action, ctx.agent)
    if findings:
        result["guardrail_warnings"] = guardrail_warnings(findings)
    return result


class ByIdParams(Params):
    """Params naming one decision: `id`, or `decision_id` / `decisionId` as clients send it."""

    id: DecisionId = Field(validation_alias=AliasChoices("id", "decision_id", "decisionId"))


class GetParams(ByIdParams):
    pass


def get_decision(p: GetParams, ctx: CallContext) -> dict[str, Any]:
    found = ctx.services.decisions.find(p.id)
    if found is None:
        return {"found": False, "id": p.id, "error": f"Decision not found: {p.id}"}
    return {"found": True, "decision": found.to_record()}


class ReviewParams(ByIdParams):
    outcome: OutcomeIn
    actual_result: str | None = alias("actualResult", "actual_result")
    lessons: str | None = None
    notes: str | None = None
    affected_kpis: dict[str, float] | None = alias("affectedKpis", "affected_kpis")


def review_decision(p: ReviewParams, ctx: CallContext) -> dict[str, Any]:
    review = ReviewInput(p.outcome, p.actual_result, p.lessons, p.notes, p.affected_kpis)
    reviewed, indexed = ctx.services.decisions.review(p.id, review, ctx.agent)
    assert reviewed.review is not None
    return {
        "success": True,
        "id": reviewed.id,
        "path": f"cstp://decisions/{reviewed.id}",
        "status": "reviewed",
        "reviewedAt": reviewed.review.reviewed_at.isoformat(),
        "reindexed": indexed,
    }


class NoParams(Params):
    pass


def reindex(p: NoParams, ctx: CallContext) -> dict[str, Any]:
    report = ctx.services.decisions.reindex()
    return {
        "success": report.errors == 0,
        "decisionsIndexed": report.indexed,
        "errors": report.errors,
        "durationMs": report.duration_ms,
        "message": f"Re-indexed {report.indexed} decisions"
        + (f"; {report.errors} could not be embedded" if report.errors else ""),
    }


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec("cstp.recordDecision", RecordParams, record_decision, summary="Record a decision"),
    MethodSpec("cstp.getDecision", GetParams, get_decision, summary="Fetch one decision by id"),
    MethodSpec("cstp.reviewDecision", ReviewParams, review_decision, summary="Record a decision's outcome"),
    MethodSpec("cstp.reindex", NoParams, reindex, summary="Rebuild the vector index from stored decisions"),
)
