"""domain.browse on its own: the recent-activity windows at their edges, and the scan it asks for."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from cstp.domain import browse
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(i: int, when: datetime) -> Decision:
    return Decision(id=f"d{i}", decision=f"decision {i}", confidence=0.5, category="process", date=when)


def test_recent_activity_windows_include_their_first_instant() -> None:
    decisions = [
        at(1, NOW - timedelta(days=1)),  # exactly 24 h ago: inside last24h
        at(2, NOW - timedelta(days=1, microseconds=1)),
        at(3, NOW - timedelta(days=7)),
        at(4, NOW - timedelta(days=30)),
        at(5, NOW - timedelta(days=30, microseconds=1)),
    ]
    s = browse.stats(lambda flt: decisions, DecisionFilter(), NOW)
    assert (s.last_24h, s.last_7d, s.last_30d) == (1, 3, 4)
    assert s.total == 5 and s.by_agent == {}  # no recorder: not counted by agent


def test_the_store_filter_is_passed_through_and_search_applied_after_it() -> None:
    asked: list[DecisionFilter] = []
    decisions = [at(1, NOW), at(2, NOW - timedelta(hours=1))]

    def scan(flt: DecisionFilter) -> Iterable[Decision]:
        asked.append(flt)
        return decisions

    flt = DecisionFilter(project="p")
    page = browse.list_decisions(scan, browse.ListQuery(flt, search="DECISION 2", limit=5))
    assert asked == [flt]
    assert [d.id for d in page.decisions] == ["d2"] and page.total == 1
