"""cstp.compact, cstp.getCompacted, cstp.setPreserve, cstp.getWisdom: the wire side of compaction.

Levels are computed at read time (`domain.compaction`), with the clock read once per call; the only
state is the `preserve` mark, which `setPreserve` stores with the decision.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from cstp.domain.compaction import (
    LEVELS,
    CategoryWisdom,
    Compacted,
    Level,
    census,
    one_line,
    scan_filter,
    select,
    wisdom,
)
from cstp.domain.errors import DecisionNotFound, InvalidInput, StoreUnavailable
from cstp.domain.records import OUTCOME_SCORE, Category, utcnow
from cstp.methods.context import CallContext
from cstp.methods.wire import DecisionId, Int, Params, Result, alias, day
from cstp.rpc.table import MethodSpec

_STORE_ERRORS = (StoreUnavailable,)


class LevelCounts(Result):
    full: int
    summary: int
    digest: int
    wisdom: int


def _counts(levels: dict[Level, int]) -> LevelCounts:
    return LevelCounts(**{name: levels[name] for name in LEVELS})


# --- cstp.compact ----------------------------------------------------------------------------------
class CompactParams(Params):
    category: Category | None = None
    dry_run: bool | None = alias("dryRun", "dry_run")


class CompactResult(Result):
    compacted: int
    preserved: int
    levels: LevelCounts
    dry_run: bool = Field(serialization_alias="dryRun")


def compact(p: CompactParams, ctx: CallContext) -> CompactResult:
    # Levels derive from date, status and the stored preserve mark, so a run has nothing to write:
    # with or without dryRun it reports the same counts (docs/PROTOCOL.md, "Compaction").
    now = utcnow()
    counted = census(ctx.services.decisions.scan(scan_filter(p.category, None, now)), now)
    return CompactResult(
        compacted=counted.total,
        preserved=counted.preserved,
        levels=_counts(counted.levels),
        dry_run=bool(p.dry_run),
    )


# --- cstp.getCompacted -----------------------------------------------------------------------------
class GetCompactedParams(Params):
    category: Category | None = None
    level: Level | None = None
    limit: Int | None = None
    include_preserved: bool | None = alias("includePreserved", "include_preserved")

    @field_validator("level", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if v == "" else v


class CompactedRow(Result):
    """One decision shaped for its level: digest (and wisdom) rows carry `oneLine`; summary rows
    add outcome, confidences, pattern and stakes; full rows add context, reasons, tags, bridge and
    deliberation. Optional keys appear only when the decision has a value."""

    id: str
    level: str
    decision: str
    category: str
    date: str
    preserved: bool | None = None
    one_line: str | None = Field(default=None, serialization_alias="oneLine")
    outcome: str | None = None
    confidence: float | None = None
    actual_confidence: float | None = Field(default=None, serialization_alias="actualConfidence")
    pattern: str | None = None
    stakes: str | None = None
    context: str | None = None
    reasons: list[dict[str, Any]] | None = None
    tags: list[str] | None = None
    bridge: dict[str, Any] | None = None
    deliberation: dict[str, Any] | None = None


def _row(c: Compacted) -> CompactedRow:
    d = c.decision
    row = CompactedRow(id=d.id, level=c.level, decision=d.decision, category=d.category, date=day(d.date))
    if d.preserve:
        row.preserved = True
    if c.level in ("digest", "wisdom"):
        row.one_line = one_line(d.decision)
        return row
    if d.outcome:
        row.outcome = d.outcome
        if d.outcome in OUTCOME_SCORE:
            row.actual_confidence = OUTCOME_SCORE[d.outcome]
    row.confidence = d.confidence
    if d.pattern:
        row.pattern = d.pattern
    row.stakes = d.stakes
    if c.level == "full":
        if d.context:
            row.context = d.context
        if d.reasons:
            row.reasons = [{"type": r.type, "text": r.text, "strength": r.strength} for r in d.reasons]
        if d.tags:
            row.tags = list(d.tags)
        for key in ("bridge", "deliberation"):
            value = d.details.get(key)
            if isinstance(value, dict) and value:
                setattr(row, key, value)
    return row


class GetCompactedResult(Result):
    decisions: list[CompactedRow]
    total: int
    levels: LevelCounts


def get_compacted(p: GetCompactedParams, ctx: CallContext) -> GetCompactedResult:
    now = utcnow()
    limit = max(1, min(p.limit if p.limit is not None else 50, 500))
    decisions = ctx.services.decisions.scan(scan_filter(p.category, p.level, now))
    include = p.include_preserved if p.include_preserved is not None else True
    chosen = select(decisions, now, level=p.level, include_preserved=include, limit=limit)
    return GetCompactedResult(
        decisions=[_row(c) for c in chosen.items], total=chosen.total, levels=_counts(chosen.levels)
    )


# --- cstp.setPreserve ------------------------------------------------------------------------------
class SetPreserveParams(Params):
    decision_id: DecisionId | None = alias("decisionId", "decision_id", "id")
    preserve: bool | None = None

    @field_validator("decision_id", mode="before")
    @classmethod
    def _empty_is_missing(cls, v: Any) -> Any:
        return None if v == "" else v


class SetPreserveResult(Result):
    success: bool
    decision_id: str = Field(serialization_alias="decisionId")
    preserve: bool
    error: str | None = None


def set_preserve(p: SetPreserveParams, ctx: CallContext) -> SetPreserveResult:
    if p.decision_id is None:
        raise InvalidInput("decisionId is required", field="decisionId")
    preserve = p.preserve if p.preserve is not None else True
    try:
        ctx.services.decisions.set_preserve(p.decision_id, preserve)
    except DecisionNotFound:
        return SetPreserveResult(
            success=False,
            decision_id=p.decision_id,
            preserve=preserve,
            error=f"Decision not found: {p.decision_id}",
        )
    return SetPreserveResult(success=True, decision_id=p.decision_id, preserve=preserve)


# --- cstp.getWisdom --------------------------------------------------------------------------------
class WisdomParams(Params):
    category: Category | None = None
    min_decisions: Int | None = alias("minDecisions", "min_decisions")


class PrincipleResult(Result):
    text: str
    confirmations: int
    example_ids: list[str] = Field(serialization_alias="exampleIds")


class WisdomEntry(Result):
    category: str
    decisions: int
    success_rate: float | None = Field(default=None, serialization_alias="successRate")
    key_principles: list[PrincipleResult] | None = Field(default=None, serialization_alias="keyPrinciples")
    common_failure_mode: str | None = Field(default=None, serialization_alias="commonFailureMode")
    avg_confidence: float | None = Field(default=None, serialization_alias="avgConfidence")
    brier_score: float | None = Field(default=None, serialization_alias="brierScore")


def _entry(w: CategoryWisdom) -> WisdomEntry:
    entry = WisdomEntry(
        category=w.category,
        decisions=w.decisions,
        success_rate=round(w.success_rate, 3),
        avg_confidence=round(w.avg_confidence, 3),
    )
    if w.principles:
        entry.key_principles = [
            PrincipleResult(text=x.text, confirmations=x.confirmations, example_ids=list(x.example_ids))
            for x in w.principles
        ]
    if w.failure_mode:
        entry.common_failure_mode = w.failure_mode
    if w.brier is not None:
        entry.brier_score = round(w.brier, 4)
    return entry


class WisdomResult(Result):
    wisdom: list[WisdomEntry]
    total_decisions: int = Field(serialization_alias="totalDecisions")
    categories_analyzed: int = Field(serialization_alias="categoriesAnalyzed")


def get_wisdom(p: WisdomParams, ctx: CallContext) -> WisdomResult:
    now = utcnow()
    min_decisions = max(1, min(p.min_decisions if p.min_decisions is not None else 5, 100))
    decisions = ctx.services.decisions.scan(scan_filter(p.category, "wisdom", now))
    entries = wisdom(decisions, now, min_decisions=min_decisions)
    return WisdomResult(
        wisdom=[_entry(w) for w in entries],
        total_decisions=sum(w.decisions for w in entries),
        categories_analyzed=len(entries),
    )


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.compact",
        CompactParams,
        compact,
        result=CompactResult,
        summary="Count decisions per compaction level (levels are computed, nothing is rewritten)",
        errors=_STORE_ERRORS,
    ),
    MethodSpec(
        "cstp.getCompacted",
        GetCompactedParams,
        get_compacted,
        result=GetCompactedResult,
        summary="List decisions shaped for their compaction level, newest first",
        errors=_STORE_ERRORS,
    ),
    MethodSpec(
        "cstp.setPreserve",
        SetPreserveParams,
        set_preserve,
        result=SetPreserveResult,
        summary="Mark a decision never to be compacted, or clear the mark",
        errors=(InvalidInput, *_STORE_ERRORS),
    ),
    MethodSpec(
        "cstp.getWisdom",
        WisdomParams,
        get_wisdom,
        result=WisdomResult,
        summary="Per-category principles, failure mode and calibration of old reviewed decisions",
        errors=_STORE_ERRORS,
    ),
)
