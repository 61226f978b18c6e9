"""Browsing decisions: the filtered, sorted, paged listing (cstp.listDecisions) and the
aggregate counts of an overview page (cstp.getStats).

Both read through the store's `scan(flt)`, which pushes the `DecisionFilter` down to the store
(a Chroma `where`); the one criterion a store cannot express, the text `search`, is applied here
on the scanned decisions. Sorting and paging then run in Python over the filtered set, because
`total` must be the filtered count anyway and the stores have no offset or order other than
newest-first. The order is total (every tie is broken by date, then id), so consecutive pages never
repeat or skip a decision while the data does not change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from cstp.domain.facts import search_text
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision, aware
from cstp.domain.search import tokenize

SortKey = Literal["created_at", "confidence", "category", "stakes", "status"]
SORT_KEYS: tuple[SortKey, ...] = ("created_at", "confidence", "category", "stakes", "status")

# Stakes sort by severity, not alphabetically (the reference sorts the strings: critical < high).
STAKES_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}

BY_DAY_MAX = 30
TOP_TAGS_MAX = 20

Scan = Callable[[DecisionFilter], Iterable[Decision]]


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One page of a listing: what to select, in which order, and which slice."""

    filter: DecisionFilter = field(default_factory=DecisionFilter)
    search: str | None = None
    sort: SortKey = "created_at"
    descending: bool = True
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Page:
    decisions: list[Decision]
    total: int  # every decision the query selects, not only this page's


def search_matches(search: str | None) -> Callable[[Decision], bool]:
    """The text criterion: every word of `search` occurs, case-insensitively, as a substring of the
    decision's text, context or pattern. A search without any word (None, "", "?!") selects all.

    Substrings rather than whole tokens (the reference's FTS5) so a partial word still finds a
    decision; every FTS5 match is also a match here.
    """
    words = tokenize(search or "")
    if not words:
        return lambda d: True

    folded = [w.casefold() for w in words]

    def matches(d: Decision) -> bool:
        text = search_text(d.decision, d.context, d.pattern)
        return all(w in text for w in folded)

    return matches


def _primary(sort: SortKey) -> Callable[[Decision], str | float | int | datetime]:
    if sort == "confidence":
        return lambda d: d.confidence
    if sort == "category":
        return lambda d: d.category
    if sort == "stakes":
        return lambda d: STAKES_RANK.get(d.stakes, len(STAKES_RANK))
    if sort == "status":
        return lambda d: d.status
    return lambda d: aware(d.date)


def ordered(decisions: Iterable[Decision], sort: SortKey, descending: bool) -> list[Decision]:
    """`decisions` by `sort` in the given direction; ties newest first, then by ascending id.

    Three stable sorts, last key first: the tie-breakers stay in the same direction whatever the
    requested order, so a page boundary inside a run of equal values is the same both ways round.
    Sorting by created_at itself breaks equal dates by ascending id.
    """
    rows = sorted(decisions, key=lambda d: d.id)
    rows.sort(key=lambda d: aware(d.date), reverse=True)
    if sort != "created_at" or not descending:
        rows.sort(key=_primary(sort), reverse=descending)
    return rows


def list_decisions(scan: Scan, query: ListQuery) -> Page:
    """The page `query` asks for, and the number of decisions it selects in all."""
    matches = search_matches(query.search)
    selected = [d for d in scan(query.filter) if matches(d)]
    rows = ordered(selected, query.sort, query.descending)
    start = max(0, query.offset)
    return Page(rows[start : start + max(0, query.limit)], len(selected))


@dataclass(frozen=True, slots=True)
class Stats:
    """Counts over the decisions a filter selects (an overview page's numbers)."""

    total: int
    by_category: dict[str, int]
    by_stakes: dict[str, int]
    by_status: dict[str, int]
    by_agent: dict[str, int]  # decisions without a recorder are not counted here
    by_day: list[tuple[str, int]]  # (UTC date YYYY-MM-DD, count), newest first, at most 30 days
    top_tags: list[tuple[str, int]]  # most used first, equal counts by tag; at most 20
    last_24h: int
    last_7d: int
    last_30d: int


def _by_count(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def stats(scan: Scan, flt: DecisionFilter, now: datetime) -> Stats:
    """Aggregate the decisions `flt` selects; the recent-activity windows end at `now`."""
    category: Counter[str] = Counter()
    stakes: Counter[str] = Counter()
    status: Counter[str] = Counter()
    agent: Counter[str] = Counter()
    day: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    recent = dict.fromkeys((1, 7, 30), 0)
    now = aware(now)
    total = 0
    for d in scan(flt):
        total += 1
        category[d.category] += 1
        stakes[d.stakes] += 1
        status[d.status] += 1
        if d.recorded_by is not None:
            agent[d.recorded_by] += 1
        created = aware(d.date)
        day[created.astimezone(UTC).date().isoformat()] += 1
        tags.update(set(d.tags))
        for days in recent:
            if created >= now - timedelta(days=days):
                recent[days] += 1
    return Stats(
        total=total,
        by_category=dict(sorted(category.items())),
        by_stakes=dict(sorted(stakes.items(), key=lambda kv: (STAKES_RANK.get(kv[0], 9), kv[0]))),
        by_status=dict(sorted(status.items())),
        by_agent=dict(_by_count(agent)),
        by_day=sorted(day.items(), reverse=True)[:BY_DAY_MAX],
        top_tags=_by_count(tags)[:TOP_TAGS_MAX],
        last_24h=recent[1],
        last_7d=recent[7],
        last_30d=recent[30],
    )
