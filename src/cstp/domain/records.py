"""The decision record, declared once.

`DecisionDraft` holds what a caller supplies; `Decision` extends it with what the server assigns
(id, date, status, recorder, review, rev, updated_at). Every other shape is derived from these
declarations: the stored/protocol record (`domain.codec`), the Chroma metadata
(`adapters.chroma.schema`), the wire models (`methods/`). Core fields are typed attributes; the
long tail (trace, deliberation, bridge, kpi_indicators, ...) lives in `details` and is kept
verbatim. `rev` increases on every change so a store can tell a stale vector from a fresh record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from cstp.domain.errors import InvalidInput

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

# What an update may change: what the decision says, never who recorded it, when, or its review.
EDITABLE_FIELDS = frozenset({"decision", "confidence", "context", "reasons", "tags", "pattern"})
EDITABLE_DETAILS = frozenset({"bridge"})  # long-tail keys kept in `details`

# Outcome → score used by calibration (protocol notes 2.6).
OUTCOME_SCORE: dict[str, float] = {"success": 1.0, "partial": 0.5, "failure": 0.0, "abandoned": 0.0}


@dataclass(frozen=True, slots=True)
class Reason:
    type: str
    text: str
    strength: float = 0.8


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
class DecisionDraft:
    """A decision as a caller supplies it (validated at the edge, not yet stored)."""

    decision: str
    confidence: float
    category: str
    stakes: str = "medium"
    context: str | None = None
    reasons: tuple[Reason, ...] = ()
    tags: tuple[str, ...] = ()
    pattern: str | None = None
    project: str | None = None
    feature: str | None = None
    pr: int | None = None
    file: str | None = None
    line: int | None = None
    commit: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision(DecisionDraft):
    """A stored decision: the draft plus what the server assigned."""

    id: str
    date: datetime
    status: str = "pending"
    recorded_by: str | None = None
    review: Review | None = None
    # Never compacted (cstp.setPreserve). Named `preserve` as in the reference's records, so a
    # migrated record keeps its mark; stored like every field, so every process sees it.
    preserve: bool = False
    rev: int = 1
    updated_at: datetime | None = None  # when `cstp.updateDecision` last changed it

    @classmethod
    def from_draft(cls, draft: DecisionDraft, *, id: str, now: datetime, agent: str) -> Decision:
        """The decision `agent` records at `now` under `id` (the draft's fields carried over)."""
        fields = {f.name: getattr(draft, f.name) for f in dataclasses.fields(DecisionDraft)}
        return cls(**fields, id=id, date=now, recorded_by=agent)

    @property
    def outcome(self) -> str | None:
        return self.review.outcome if self.review else None

    @property
    def title(self) -> str:
        return self.decision[:500]

    def with_review(self, review: Review) -> Decision:
        return dataclasses.replace(self, review=review, status="reviewed", rev=self.rev + 1)

    def with_preserve(self, preserve: bool) -> Decision:
        return dataclasses.replace(self, preserve=preserve, rev=self.rev + 1)

    def with_changes(self, changes: Mapping[str, Any], now: datetime) -> Decision:
        """This decision with `changes` applied (EDITABLE_FIELDS → domain values; EDITABLE_DETAILS →
        a value, or None to remove the key), `rev` bumped and `updated_at` = `now`. Id, date,
        recorder, category, project and review stay. Raises InvalidInput for anything else."""
        unknown = sorted(set(changes) - EDITABLE_FIELDS - EDITABLE_DETAILS)
        if unknown:
            raise InvalidInput(f"{', '.join(unknown)} cannot be changed", field=unknown[0])
        if not changes:
            raise InvalidInput("no change given")
        fields = {k: v for k, v in changes.items() if k in EDITABLE_FIELDS}
        if "decision" in fields:
            text = fields["decision"]
            if not isinstance(text, str) or not text.strip():
                raise InvalidInput("decision must not be empty", field="decision")
            fields["decision"] = text.strip()
        details = dict(self.details)
        for key in EDITABLE_DETAILS & set(changes):
            if changes[key] is None:
                details.pop(key, None)
            else:
                details[key] = changes[key]
        return dataclasses.replace(self, **fields, details=details, rev=self.rev + 1, updated_at=now)

    def document(self) -> str:
        """The text that is embedded and keyword-indexed (protocol notes 3, "Embedded document")."""
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
class ScoredDecision:
    """A search hit: the decision and its distance (0 = identical; cosine distance for vectors)."""

    decision: Decision
    distance: float


def utcnow() -> datetime:
    """The one clock of the domain (tests and callers pass `now` explicitly where it matters)."""
    return datetime.now(UTC)


def aware(dt: datetime) -> datetime:
    """Treat naive datetimes as UTC (filters accept dates without a zone)."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
