"""`DecisionFacts`: the few fields of a decision that listing and statistics select, sort and
count by, and the text a listing's `search` looks in; not its reasons, review or details.

The browse catalogue (`cstp.domain.catalogue`) keeps one per stored decision so that
`cstp.listDecisions` and `cstp.getStats` do not have to read and decode every record per call;
stores hand them out through `DecisionStore.changes`, built straight from their metadata (a Chroma
store reads the filter keys, and from the record JSON only the three texts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cstp.domain.records import Decision, aware

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_micros(dt: datetime) -> int:
    """Exact integer microseconds since the Unix epoch (naive datetimes are UTC)."""
    return (aware(dt) - _EPOCH) // _MICROSECOND


@dataclass(frozen=True, slots=True)
class DecisionFacts:
    id: str
    rev: int
    date_us: int  # Decision.date as integer microseconds since the epoch (exact, see epoch_micros)
    category: str
    stakes: str
    status: str
    confidence: float
    recorded_by: str | None
    project: str | None
    tags: tuple[str, ...]  # sorted, each once: stores need not keep the order
    text: str  # search_text(): what `cstp.listDecisions`' search matches, casefolded
    outcome: str | None = None  # the review's outcome: calibration and drift score from it


def search_text(decision: str, context: str | None, pattern: str | None) -> str:
    """The text a listing's `search` words must all occur in (see `browse.search_matches`)."""
    return " ".join((decision, context or "", pattern or "")).casefold()


def facts_of(d: Decision) -> DecisionFacts:
    return DecisionFacts(
        id=d.id,
        rev=d.rev,
        date_us=epoch_micros(d.date),
        category=d.category,
        stakes=d.stakes,
        status=d.status,
        confidence=float(d.confidence),
        recorded_by=d.recorded_by,
        project=d.project,
        tags=tuple(sorted(set(d.tags))),
        text=search_text(d.decision, d.context, d.pattern),
        outcome=d.outcome,
    )


@dataclass(frozen=True, slots=True)
class Changes:
    """What `DecisionStore.changes(cursor)` returns: the facts of every decision written after
    `cursor` (some written a little earlier may come again: callers keep the highest `rev`), and
    the cursor to pass next time."""

    facts: list[DecisionFacts]
    cursor: int
