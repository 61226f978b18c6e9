"""cstp.preAction: the one call an agent makes before acting.

Similar past decisions (semantic query within the action's category), the guardrail verdict (the
very `GuardrailService.check` that checkGuardrails runs) and the category's calibration are
gathered concurrently: the guardrail check and the calibration on the services' pool, the query on
the calling thread meanwhile. Each part fails open: a part that fails is left empty and named in
`degraded`, the rest of the answer stands. When the action is allowed and `autoRecord` is on, the
decision is recorded through recordDecision's own path (`methods.capture`), which consumes the
caller's tracked inputs together with this call's query and check; otherwise the query and check
are captured for the caller's next record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from cstp.domain.calibration import Calibration
from cstp.domain.compaction import level_of
from cstp.domain.errors import InvalidInput
from cstp.domain.filters import DecisionFilter
from cstp.domain.guardrails import Verdict
from cstp.domain.records import utcnow
from cstp.domain.search import Hit
from cstp.domain.tracker import TrackedInput, scoped_key
from cstp.methods import capture
from cstp.methods.context import CallContext, on_pool
from cstp.methods.decisions import PatternText, Reasons, Tags
from cstp.methods.guardrails import ActionParam, FindingOut
from cstp.methods.wire import Int, Params, Result, alias, day
from cstp.rpc.table import MethodSpec

logger = logging.getLogger("cstp.workflow")

T = TypeVar("T")


class Options(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)
    # The reference does not clamp queryLimit; cstp bounds it like queryDecisions' limit.
    query_limit: Int = Field(
        default=5, ge=1, le=50, validation_alias=AliasChoices("queryLimit", "query_limit")
    )
    auto_record: bool = Field(default=True, validation_alias=AliasChoices("autoRecord", "auto_record"))
    include_patterns: bool = Field(
        default=True, validation_alias=AliasChoices("includePatterns", "include_patterns")
    )


class PreActionParams(Params):
    action: ActionParam | None = None
    options: Options = Field(default_factory=Options)
    reasons: Reasons = Field(default_factory=list)
    tags: Tags = Field(default_factory=list)
    pattern: PatternText | None = None
    agent_id: str | None = alias("agentId", "agent_id")
    decision_id: str | None = alias("decisionId", "decision_id")

    @model_validator(mode="before")
    @classmethod
    def _present(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("action"):
            raise ValueError("Missing required parameter: action")
        return data


class DecisionSummary(Result):
    id: str
    title: str
    category: str
    confidence: float
    stakes: str
    status: str
    date: str
    distance: float
    compaction_level: str = Field(serialization_alias="compactionLevel")
    outcome: str | None = None
    reasons: list[dict[str, Any]] | None = None
    tags: list[str] | None = None
    pattern: str | None = None
    lessons: str | None = None


class CalibrationContext(Result):
    reviewed_decisions: int = Field(serialization_alias="reviewedDecisions")
    brier_score: float | None = Field(default=None, serialization_alias="brierScore")
    accuracy: float | None = None
    calibration_gap: float | None = Field(default=None, serialization_alias="calibrationGap")
    interpretation: str | None = None


class PatternSummary(Result):
    pattern: str
    count: int
    example_ids: list[str] = Field(serialization_alias="exampleIds")


class PreActionResult(Result):
    allowed: bool
    decision_id: str | None = Field(serialization_alias="decisionId")
    relevant_decisions: list[DecisionSummary] = Field(serialization_alias="relevantDecisions")
    guardrail_results: list[FindingOut] = Field(serialization_alias="guardrailResults")
    calibration_context: CalibrationContext = Field(serialization_alias="calibrationContext")
    patterns_summary: list[PatternSummary] = Field(serialization_alias="patternsSummary")
    query_time_ms: int = Field(serialization_alias="queryTimeMs")
    block_reasons: list[str] | None = Field(default=None, serialization_alias="blockReasons")
    # cstp: the parts that failed and were left empty ("query", "guardrails", "calibration",
    # "record"); absent when every part answered.
    degraded: list[str] | None = None


def summary_of(h: Hit) -> DecisionSummary:
    d = h.decision
    out = DecisionSummary(
        id=d.id,
        title=d.title,
        category=d.category,
        confidence=d.confidence,
        stakes=d.stakes,
        status=d.status,
        date=day(d.date),
        distance=h.distance,
        compaction_level=level_of(d, utcnow()),
    )
    if d.outcome:
        out.outcome = d.outcome
    if d.reasons:
        out.reasons = [{"type": r.type, "text": r.text, "strength": r.strength} for r in d.reasons]
    if d.tags:
        out.tags = list(d.tags)
    if d.pattern:
        out.pattern = d.pattern
    if d.review and d.review.lessons:
        out.lessons = d.review.lessons
    return out


def calibration_context(c: Calibration | None) -> CalibrationContext:
    if c is None:
        return CalibrationContext(reviewed_decisions=0)
    if c.overall is None:
        return CalibrationContext(reviewed_decisions=c.reviewed_decisions)
    o = c.overall
    return CalibrationContext(
        reviewed_decisions=o.reviewed_decisions,
        brier_score=round(o.brier, 4),
        accuracy=round(o.accuracy, 4),
        calibration_gap=round(o.gap, 4),
        interpretation=o.interpretation,
    )


def _outcome(name: str, run: Callable[[], T], degraded: list[str]) -> T | None:
    try:
        return run()
    except Exception:  # fail open: this part is empty and named, the call still answers
        logger.warning("preAction part failed", extra={"part": name}, exc_info=True)
        degraded.append(name)
        return None


def pre_action(p: PreActionParams, ctx: CallContext) -> PreActionResult:
    started = time.perf_counter()
    assert p.action is not None
    action = p.action
    services = ctx.services
    flt = DecisionFilter(category=action.category) if action.category else DecisionFilter()

    def category_calibration() -> Calibration | None:
        if services.digest is None:
            return None
        digest = services.digest.get()
        return digest.by_category.get(action.category) if action.category else digest.calibration

    # The two short parts go to the pool and the query, the long one, runs here meanwhile: the
    # call then costs its query plus nothing but the collection (a hop to the pool and back for
    # the query measured 20+ ms at c = 1 on a loaded machine, for no parallelism gained).
    check = on_pool(ctx, lambda: services.guardrails.check(action.model_dump(), ctx.agent))
    calibration = on_pool(ctx, category_calibration)
    degraded: list[str] = []
    hits = (
        _outcome(
            "query",
            lambda: services.search.search(action.description, "semantic", flt, p.options.query_limit).hits,
            degraded,
        )
        or []
    )
    verdict: Verdict | None = _outcome("guardrails", check.result, degraded)
    cal = _outcome("calibration", calibration.result, degraded)

    relevant = [summary_of(h) for h in hits]
    allowed = verdict.allowed if verdict is not None else True
    findings = [*verdict.violations, *verdict.warnings] if verdict is not None else []
    patterns: dict[str, list[str]] = {}
    if p.options.include_patterns:
        for s in relevant:
            if s.pattern:
                patterns.setdefault(s.pattern, []).append(s.id)

    inputs = _inputs(p, ctx, hits, verdict, "query" in degraded)
    decision_id = None
    if allowed and p.options.auto_record:
        decision_id = _outcome("record", lambda: _record(p, ctx, inputs), degraded)
    elif services.tracker is not None:
        for i in inputs:
            services.tracker.keep(ctx.agent, i)
    result = PreActionResult(
        allowed=allowed,
        decision_id=decision_id,
        relevant_decisions=relevant,
        guardrail_results=[FindingOut.of(f) for f in findings],
        calibration_context=calibration_context(cal),
        patterns_summary=[
            PatternSummary(pattern=k, count=len(v), example_ids=v[:3]) for k, v in patterns.items()
        ],
        query_time_ms=int((time.perf_counter() - started) * 1000),
    )
    if verdict is not None and verdict.violations:
        result.block_reasons = [f.message for f in verdict.violations]
    if degraded:
        result.degraded = degraded
    return result


def _inputs(
    p: PreActionParams, ctx: CallContext, hits: list[Hit], verdict: Verdict | None, query_failed: bool
) -> list[TrackedInput]:
    tracker = ctx.services.tracker
    if tracker is None:
        return []
    assert p.action is not None
    key = scoped_key(ctx.agent, p.agent_id, p.decision_id)
    out = []
    if not query_failed:
        found = [(h.decision.id, h.decision.title, h.distance) for h in hits]
        out.append(capture.query_input(tracker, key, p.action.description, "semantic", found))
    if verdict is not None:
        out.append(
            capture.guardrail_input(
                tracker, key, p.action.description, verdict.allowed, len(verdict.violations)
            )
        )
    return out


def _record(p: PreActionParams, ctx: CallContext, inputs: list[TrackedInput]) -> str:
    assert p.action is not None
    a = p.action
    record = capture.TrackedRecordParams.model_validate(
        {
            "decision": a.description,
            "confidence": 0.5 if a.confidence is None else a.confidence,
            "category": a.category or "process",
            "stakes": a.stakes,
            "reasons": [r.model_dump() for r in p.reasons],
            "tags": p.tags,
            "pattern": p.pattern,
            "agentId": p.agent_id,
            "decisionId": p.decision_id,
        }
    )
    return capture.record_decision(record, ctx, extra=inputs).id


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.preAction",
        PreActionParams,
        pre_action,
        result=PreActionResult,
        summary="Before acting: similar decisions, guardrails and calibration at once; record if allowed",
        errors=(InvalidInput,),
    ),
)
