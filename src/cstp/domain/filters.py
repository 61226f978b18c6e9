"""`DecisionFilter`: which decisions a query, listing or calibration selects.

`matches` is written out by hand on purpose: it is the reference semantics that every store must
reproduce, and the oracle the store contract suite checks the Chroma translation
(`adapters.chroma.schema.where_for`) against. Keep it independent of that translation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cstp.domain.records import Decision, aware


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    """Every filter. All set fields must hold (AND); list fields match any member.

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

    def matches(self, d: Decision) -> bool:
        """Reference semantics for every store (the memory store uses it directly)."""
        if self.category is not None and d.category != self.category:
            return False
        if self.min_confidence is not None and d.confidence < self.min_confidence:
            return False
        if self.max_confidence is not None and d.confidence > self.max_confidence:
            return False
        if self.date_after is not None and d.date < aware(self.date_after):
            return False
        if self.date_before is not None and d.date > aware(self.date_before):
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
