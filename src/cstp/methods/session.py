"""cstp.getSessionContext: everything an agent should know when a session starts, in one call.

JSON (default) or `format: "markdown"`, the text an LLM prompt gets (layout of the reference's
`_render_markdown`). The store-wide parts (profile, calibration by category, ready queue, confirmed
patterns, wisdom) come from the cached digest (`runtime.snapshot`); relevant decisions are a
semantic query for `taskDescription` (none without one); guardrails are the loaded rules.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator

from cstp.domain.digest import Digest
from cstp.domain.errors import InvalidInput, StoreUnavailable
from cstp.domain.filters import DecisionFilter
from cstp.methods.breakers import BreakerItem
from cstp.methods.calibration import Overall, _overall
from cstp.methods.compaction import WisdomEntry, _entry
from cstp.methods.context import CallContext
from cstp.methods.guardrails import RuleOut
from cstp.methods.ready import select
from cstp.methods.wire import Int, Params, Result
from cstp.methods.workflow import DecisionSummary, summary_of
from cstp.rpc.table import MethodSpec

Section = Literal["decisions", "guardrails", "calibration", "ready", "patterns", "wisdom"]
DEFAULT_INCLUDE: list[Section] = ["decisions", "guardrails", "calibration", "ready", "patterns"]
_READY_REASON = {"review_outcome": "overdue_review", "stale_pending": "stale_pending"}


class SessionParams(Params):
    task_description: str | None = Field(
        default=None, max_length=10_000, validation_alias=AliasChoices("taskDescription", "task_description")
    )
    include: list[Section] = Field(default_factory=lambda: list(DEFAULT_INCLUDE))
    decisions_limit: Int = Field(
        default=10, validation_alias=AliasChoices("decisionsLimit", "decisions_limit")
    )
    ready_limit: Int = Field(default=5, validation_alias=AliasChoices("readyLimit", "ready_limit"))
    format: str = "json"

    @field_validator("decisions_limit")
    @classmethod
    def _decisions(cls, v: int) -> int:
        return max(1, min(v, 50))

    @field_validator("ready_limit")
    @classmethod
    def _ready(cls, v: int) -> int:
        return max(1, min(v, 20))


class ProfileOut(Result):
    total_decisions: int = Field(serialization_alias="totalDecisions")
    reviewed: int
    overall_accuracy: float | None = Field(default=None, serialization_alias="overallAccuracy")
    brier_score: float | None = Field(default=None, serialization_alias="brierScore")
    tendency: str | None = None
    strongest_category: str | None = Field(default=None, serialization_alias="strongestCategory")
    weakest_category: str | None = Field(default=None, serialization_alias="weakestCategory")
    active_since: str | None = Field(default=None, serialization_alias="activeSince")


class ReadyItem(Result):
    id: str
    title: str
    reason: str
    date: str
    detail: str


class PatternOut(Result):
    pattern: str
    count: int
    categories: list[str]
    example_ids: list[str] = Field(serialization_alias="exampleIds")


class SessionResult(Result):
    """JSON format: every section key but `markdown`; markdown format: `markdown` and
    `queryTimeMs` only (unset keys are absent from the reply)."""

    agent_profile: ProfileOut | None = Field(default=None, serialization_alias="agentProfile")
    relevant_decisions: list[DecisionSummary] | None = Field(
        default=None, serialization_alias="relevantDecisions"
    )
    active_guardrails: list[RuleOut] | None = Field(default=None, serialization_alias="activeGuardrails")
    calibration_by_category: dict[str, Overall] | None = Field(
        default=None, serialization_alias="calibrationByCategory"
    )
    ready_queue: list[ReadyItem] | None = Field(default=None, serialization_alias="readyQueue")
    confirmed_patterns: list[PatternOut] | None = Field(default=None, serialization_alias="confirmedPatterns")
    query_time_ms: int = Field(default=0, serialization_alias="queryTimeMs")
    wisdom: list[WisdomEntry] | None = None
    # Breakers that are not closed (open or half-open), listBreakers' items; absent when all are
    # closed or none is configured, as in the reference.
    circuit_breakers: list[BreakerItem] | None = Field(default=None, serialization_alias="circuitBreakers")
    markdown: str | None = None


def _profile(d: Digest) -> ProfileOut:
    p = d.profile
    optional = {
        k: v
        for k, v in (
            ("overall_accuracy", p.overall_accuracy),
            ("brier_score", p.brier_score),
            ("tendency", p.tendency),
            ("strongest_category", p.strongest_category),
            ("weakest_category", p.weakest_category),
            ("active_since", p.active_since),
        )
        if v is not None
    }
    return ProfileOut(total_decisions=p.total_decisions, reviewed=p.reviewed, **optional)


def build(p: SessionParams, ctx: CallContext, started: float) -> SessionResult:
    services = ctx.services
    if services.digest is None:
        raise StoreUnavailable("store summaries are not configured")
    digest = services.digest.get()
    include = set(p.include)
    relevant: list[DecisionSummary] = []
    if "decisions" in include and p.task_description and p.task_description.strip():
        hits = services.search.search(
            p.task_description, "semantic", DecisionFilter(), p.decisions_limit
        ).hits
        relevant = [summary_of(h) for h in hits]
    ready: list[ReadyItem] = []
    if "ready" in include:
        kept, _, _ = select(
            digest.ready,
            types=["review_outcome", "stale_pending"],
            category=None,
            min_priority=None,
            limit=p.ready_limit,
        )
        ready = [
            ReadyItem(
                id=a.decision_id or "",
                title=a.title or "Untitled",
                reason=_READY_REASON[a.type],
                date=a.date or "",
                detail=a.detail or "",
            )
            for a in kept
        ]
    result = SessionResult(
        agent_profile=_profile(digest),
        relevant_decisions=relevant,
        active_guardrails=[RuleOut.of(r) for r in services.guardrails.rules_in_scope(None)]
        if "guardrails" in include
        else [],
        calibration_by_category={
            c: _overall(cal, None) for c, cal in digest.calibration_by_category().items()
        }
        if "calibration" in include
        else {},
        ready_queue=ready,
        confirmed_patterns=[
            PatternOut(
                pattern=x.pattern,
                count=x.count,
                categories=list(x.categories),
                example_ids=list(x.example_ids),
            )
            for x in digest.patterns
        ]
        if "patterns" in include
        else [],
        query_time_ms=0,
    )
    if "wisdom" in include:
        result.wisdom = [_entry(w) for w in digest.wisdom]
    tripped = _tripped_breakers(ctx)
    if tripped:
        result.circuit_breakers = tripped
    result.query_time_ms = int((time.perf_counter() - started) * 1000)
    return result


def _tripped_breakers(ctx: CallContext) -> list[BreakerItem]:
    """Open and half-open breakers: what blocks (or probes) this agent's actions right now."""
    breakers = ctx.services.guardrails.breakers
    if breakers is None or not breakers.configured():
        return []
    return [BreakerItem.of(s) for s in breakers.statuses() if s.state.state != "closed"]


def markdown(r: SessionResult, agent: str) -> str:
    """The reference's layout: the text agents' prompts were written against."""
    p = r.agent_profile
    assert p is not None  # `build` always sets every section
    lines = [f"## CSTP Decision Context ({agent})", "", "### Profile"]
    lines.append(f"- **Decisions:** {p.total_decisions} total, {p.reviewed} reviewed")
    if p.overall_accuracy is not None:
        lines.append(
            f"- **Accuracy:** {p.overall_accuracy:.0%} | **Brier:** {p.brier_score}"
            f" | **Tendency:** {p.tendency}"
        )
    if p.strongest_category:
        lines.append(f"- **Strongest:** {p.strongest_category} | **Weakest:** {p.weakest_category}")
    lines.append("")
    if r.active_guardrails:
        lines.append("### Active Guardrails")
        lines += [f"- [{g.action}] {g.description or g.id}" for g in r.active_guardrails]
        lines.append("")
    if r.calibration_by_category:
        lines += [
            "### Calibration by Category",
            "| Category | Accuracy | Brier | Decisions |",
            "|----------|----------|-------|-----------|",
        ]
        lines += [
            f"| {c} | {o.accuracy} | {o.brier_score} | {o.reviewed_decisions} |"
            for c, o in r.calibration_by_category.items()
        ]
        lines.append("")
    if r.circuit_breakers:
        lines.append("### Circuit Breakers")
        lines += [
            f"- **{b.scope}** {b.state.upper()}: {b.failure_count}/{b.failure_threshold} failures"
            + (f", {b.cooldown_remaining_ms // 1000}s of cooldown left" if b.cooldown_remaining_ms else "")
            for b in r.circuit_breakers
        ]
        lines.append("")
    if r.ready_queue:
        lines.append(f"### Pending Actions ({len(r.ready_queue)})")
        for item in r.ready_queue:
            tag = "OVERDUE" if item.reason == "overdue_review" else "STALE"
            lines.append(f"- [{tag}] {item.id}: {item.title} ({item.detail})")
        lines.append("")
    if r.confirmed_patterns:
        lines.append("### Confirmed Patterns")
        lines += [f"- {x.pattern} ({x.count}x, {', '.join(x.categories)})" for x in r.confirmed_patterns]
        lines.append("")
    if r.wisdom:
        lines.append("### Wisdom")
        for w in r.wisdom:
            rate = f"{w.success_rate:.0%}" if w.success_rate is not None else "?"
            lines.append(f"- **{w.category}** ({w.decisions} decisions, {rate} success)")
            lines += [f"  - {k.text} ({k.confirmations} confirmations)" for k in w.key_principles or []]
            if w.common_failure_mode:
                lines.append(f"  - Failure mode: {w.common_failure_mode}")
        lines.append("")
    if r.relevant_decisions:
        lines.append("### Relevant Decisions")
        lines += [
            f"- [{d.confidence}] {d.title} ({d.category}, {d.outcome or 'pending'})"
            for d in r.relevant_decisions
        ]
        lines.append("")
    lines += ["### Protocol", "Use `preAction` before any significant decision.", ""]
    return "\n".join(lines)


def get_session_context(p: SessionParams, ctx: CallContext) -> SessionResult:
    started = time.perf_counter()
    result = build(p, ctx, started)
    if p.format == "markdown":
        text = markdown(result, ctx.agent)
        return SessionResult(markdown=text, query_time_ms=int((time.perf_counter() - started) * 1000))
    return result


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.getSessionContext",
        SessionParams,
        get_session_context,
        result=SessionResult,
        summary="Start-of-session context: profile, relevant decisions, guardrails, calibration, queue",
        errors=(InvalidInput, StoreUnavailable),
    ),
)
