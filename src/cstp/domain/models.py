"""Decision records and the filter that selects them.

A `Decision` is the stored record in the protocol's snake_case shape (notes section 3). Core fields are
typed attributes; the long tail (trace, deliberation, bridge, kpi_indicators, ...) lives in `details`
and is kept verbatim. `rev` increases on every change so the store can tell a stale vector from a
fresh record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

Category = Literal["architecture", "process", "integration", "tooling", "security"]
Stakes = Literal["low", "medium", "high", "critical"]
Status = Literal["pending", "reviewed"]
OutcomeValue = Literal["success", "partial", "failure", "abandoned"]
ReasonType = Literal[
    "authority",
    "analogy",
    "analysis",
    "pattern",
    "intuition",
    "empirical",
    "elimination",
    "constraint",
]

MentalState = Literal["deliberate", "reactive", "exploratory", "habitual", "pressured"]

# The same vocabularies as tuples, for code that iterates over them.
CATEGORIES: tuple[str, ...] = get_args(Category)
STAKES: tuple[str, ...] = get_args(Stakes)
OUTCOMES: tuple[str, ...] = get_args(OutcomeValue)
REASON_TYPES: tuple[str, ...] = get_args(ReasonType)

# Outcome → score used by calibration (notes 2.6).
OUTCOME_SCORE: dict[str, float] = {"success": 1.0, "partial": 0.5, "failure": 0.0, "abandoned": 0.0}


@dataclass(frozen=True, slots=True)
class Reason:
    type: str
    text: str
    strength: float = 0.8

    def to_record(self) -> dict[str, Any]:
        return {"type": self.type, "text": self.text, "strength": self.strength}


@dataclass(frozen=True, slots=True)
class Review:
    """What `reviewDecision` adds to a record."""

    outcome: str
    reviewed_at: datetime
    reviewed_by: str
    actual_result: str | None = None
    lessons: str | None = None
    review_notes: str | None = None
    affected_kpis: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    decision: str
    category: str
    confidence: float
    stakes: str
    date: datetime
    status: str = "pending"
    context: str | None = None
    reasons: tuple[Reason, ...] = ()
    tags: tuple[str, ...] = ()
    pattern: str | None = None
    recorded_by: str | None = None
    project: str | None = None
    feature: str | None = None
    pr: int | None = None
    file: str | None = None
    line: int | None = None
    commit: str | None = None
    review: Review | None = None
    details: dict[str, Any] = field(default_factory=dict)
    rev: int = 1

    @property
    def outcome(self) -> str | None:
        return self.review.outcome if self.review else None

    @property
    def title(self) -> str:
        return self.decision[:500]

    def with_review(self, review: Review) -> Decision:
        return dataclasses.replace(self, review=review, status="reviewed", rev=self.rev + 1)

    def to_record(self) -> dict[str, Any]:
        """The protocol's raw record (snake_case), as getDecision returns it and the store keeps it."""
        rec: dict[str, Any] = {
            "id": self.id,
            "summary": self.decision,
            "decision": self.decision,
            "category": self.category,
            "confidence": self.confidence,
            "stakes": self.stakes,
            "status": self.status,
            "date": self.date.isoformat(),
        }
        optional: dict[str, Any] = {
            "context": self.context,
            "reasons": [r.to_record() for r in self.reasons] or None,
            "tags": list(self.tags) or None,
            "pattern": self.pattern,
            "recorded_by": self.recorded_by,
            "project": self.project,
            "feature": self.feature,
            "pr": self.pr,
            "file": self.file,
            "line": self.line,
            "commit": self.commit,
        }
        rec.update({k: v for k, v in optional.items() if v is not None})
        rec.update(self.details)
        if self.review is not None:
            r = self.review
            rec["outcome"] = r.outcome
            rec["reviewed_at"] = r.reviewed_at.isoformat()
            rec["reviewed_by"] = r.reviewed_by
            for key, value in (
                ("actual_result", r.actual_result),
                ("lessons", r.lessons),
                ("review_notes", r.review_notes),
                ("affected_kpis", r.affected_kpis),
            ):
                if value is not None:
                    rec[key] = value
        rec["rev"] = self.rev
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Decision:
        """Inverse of `to_record` (the store round-trips records through this)."""
        known = {
            "id",
            "summary",
            "decision",
            "category",
            "confidence",
            "stakes",
            "status",
            "date",
            "context",
            "reasons",
            "tags",
            "pattern",
            "recorded_by",
            "project",
            "feature",
            "pr",
            "file",
            "line",
            "commit",
            "outcome",
            "reviewed_at",
            "reviewed_by",
            "actual_result",
            "lessons",
            "review_notes",
            "affected_kpis",
            "rev",
        }
        review = None
        if rec.get("outcome"):
            review = Review(
                outcome=rec["outcome"],
                reviewed_at=datetime.fromisoformat(rec["reviewed_at"]),
                reviewed_by=rec.get("reviewed_by", ""),
                actual_result=rec.get("actual_result"),
                lessons=rec.get("lessons"),
                review_notes=rec.get("review_notes"),
                affected_kpis=rec.get("affected_kpis"),
            )
        return cls(
            id=rec["id"],
            decision=rec["decision"],
            category=rec["category"],
            confidence=float(rec["confidence"]),
            stakes=rec["stakes"],
            date=datetime.fromisoformat(rec["date"]),
            status=rec.get("status", "pending"),
            context=rec.get("context"),
            reasons=tuple(
                Reason(r["type"], r["text"], float(r.get("strength", 0.8))) for r in rec.get("reasons") or ()
            ),
            tags=tuple(rec.get("tags") or ()),
            pattern=rec.get("pattern"),
            recorded_by=rec.get("recorded_by"),
            project=rec.get("project"),
            feature=rec.get("feature"),
            pr=rec.get("pr"),
            file=rec.get("file"),
            line=rec.get("line"),
            commit=rec.get("commit"),
            review=review,
            details={k: v for k, v in rec.items() if k not in known},
            rev=int(rec.get("rev", 1)),
        )

    def document(self) -> str:
        """The text that is embedded and keyword-indexed (notes section 3, "Embedded document")."""
        lines = [f"Decision: {self.decision}"]
        if self.context:
            lines.append(f"Context: {self.context}")
        lines.append(f"Category: {self.category}")
        if self.reasons:
            lines.append("Reasons: " + " | ".join(r.text for r in self.reasons))
        if self.tags:
            lines.append("Tags: " + ", ".join(self.tags))
        if self.pattern:
            lines.append(f"Pattern: {self.pattern}")
        if self.project:
            lines.append(f"Project: {self.project}")
        if self.feature:
            lines.append(f"Feature: {self.feature}")
        if self.pr is not None:
            lines.append(f"PR #{self.pr}")
        bridge = self.details.get("bridge")
        if isinstance(bridge, dict):
            if bridge.get("structure"):
                lines.append(f"Structure: {bridge['structure']}")
            if bridge.get("function"):
                lines.append(f"Function: {bridge['function']}")
        if self.review is not None:
            lines.append(f"Outcome: {self.review.outcome}")
            if self.review.lessons:
                lines.append(f"Lessons: {self.review.lessons}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    """Every queryDecisions filter. All set fields must hold (AND); list fields match any member.

    `has_outcome` narrows `statuses` (True → reviewed, False → pending); combined with an explicit
    status list the result is their intersection, never an override.
    """

    category: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    date_after: datetime | None = None
    date_before: datetime | None = None
    stakes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    project: str | None = None
    feature: str | None = None
    pr: int | None = None
    has_outcome: bool | None = None
    tags: tuple[str, ...] = ()
    recorded_by: str | None = None

    def effective_statuses(self) -> tuple[str, ...] | None:
        """The allowed statuses after combining `statuses` and `has_outcome`; None = any."""
        allowed: set[str] | None = set(self.statuses) if self.statuses else None
        if self.has_outcome is not None:
            wanted = {"reviewed"} if self.has_outcome else {"pending"}
            allowed = wanted if allowed is None else allowed & wanted
        return None if allowed is None else tuple(sorted(allowed))

    def is_empty(self) -> bool:
        return self == DecisionFilter()

    def matches(self, d: Decision) -> bool:
        """Reference semantics for every store (the memory store uses it directly)."""
        if self.category is not None and d.category != self.category:
            return False
        if self.min_confidence is not None and d.confidence < self.min_confidence:
            return False
        if self.max_confidence is not None and d.confidence > self.max_confidence:
            return False
        if self.date_after is not None and d.date < _aware(self.date_after):
            return False
        if self.date_before is not None and d.date > _aware(self.date_before):
            return False
        if self.stakes and d.stakes not in self.stakes:
            return False
        statuses = self.effective_statuses()
        if statuses is not None and d.status not in statuses:
            return False
        if self.project is not None and d.project != self.project:
            return False
        if self.feature is not None and d.feature != self.feature:
            return False
        if self.pr is not None and d.pr != self.pr:
            return False
        if self.tags and not set(self.tags) & set(d.tags):
            return False
        return self.recorded_by is None or d.recorded_by == self.recorded_by


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ScoredDecision:
    """A search hit: the decision and its distance (0 = identical; cosine distance for vectors)."""

    decision: Decision
    distance: float


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(dt: datetime) -> datetime:
    """Treat naive datetimes as UTC (filters accept dates without a zone)."""
    return _aware(dt)
