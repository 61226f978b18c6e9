"""Compaction levels and wisdom: how much of a decision is worth showing at its age.

Compaction never rewrites a record. A decision's level is a function of its date, its status and its
`preserve` mark at one instant `now`, which the caller reads once per call and passes to every
function here, so one answer never mixes two clocks:

- preserved, or not yet reviewed → `full` (a pending decision still needs its detail to be reviewed);
- otherwise by whole days of age: < 7 `full`, < 30 `summary`, < 90 `digest`, else `wisdom`.

Wisdom distils the reviewed decisions of wisdom age per category: success rate, the patterns that
successful decisions confirmed (principles), the pattern most often behind a failure or a partial
result, mean confidence and Brier score.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cstp.domain.calibration import brier
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import OUTCOME_SCORE, Decision

Level = Literal["full", "summary", "digest", "wisdom"]
LEVELS: tuple[Level, ...] = ("full", "summary", "digest", "wisdom")
# A reviewed, unpreserved decision younger than this many whole days is at the level named.
BANDS: tuple[tuple[int, Level], ...] = ((7, "full"), (30, "summary"), (90, "digest"))
ONE_LINE = 80
MAX_PRINCIPLES = 5
MIN_CONFIRMATIONS = 2
EXAMPLES = 3


def level_of(d: Decision, now: datetime) -> Level:
    """The decision's compaction level at `now` (a future date counts as age 0)."""
    if d.preserve or d.status != "reviewed":
        return "full"
    age = (now - d.date).days
    for below, level in BANDS:
        if age < below:
            return level
    return "wisdom"


def scan_filter(category: str | None, level: Level | None, now: datetime) -> DecisionFilter:
    """What the store must return so that every decision at `level` (any, when None) is included.

    Only a superset: the band's dates bound the scan and the exact level is computed afterwards
    with `level_of`. `full` cannot be narrowed (pending and preserved decisions of any age are full).
    """
    if level is None or level == "full":
        return DecisionFilter(category=category)
    youngest = {"summary": 7, "digest": 30, "wisdom": 90}[level]
    oldest = {"summary": 30, "digest": 90}.get(level)
    return DecisionFilter(
        category=category,
        statuses=("reviewed",),
        date_before=now - timedelta(days=youngest),
        date_after=now - timedelta(days=oldest) if oldest is not None else None,
    )


def one_line(text: str) -> str:
    """The digest line: at most 80 characters, cut with an ellipsis."""
    return text if len(text) <= ONE_LINE else text[: ONE_LINE - 3] + "..."


@dataclass(frozen=True, slots=True)
class Census:
    """What `cstp.compact` reports: decisions per level and how many are preserved."""

    levels: dict[Level, int]
    preserved: int

    @property
    def total(self) -> int:
        return sum(self.levels.values())


def census(decisions: Iterable[Decision], now: datetime) -> Census:
    levels: dict[Level, int] = dict.fromkeys(LEVELS, 0)
    preserved = 0
    for d in decisions:
        levels[level_of(d, now)] += 1
        preserved += d.preserve
    return Census(levels, preserved)


@dataclass(frozen=True, slots=True)
class Compacted:
    decision: Decision
    level: Level


@dataclass(frozen=True, slots=True)
class Selection:
    """`items`: newest first, at most the limit; `total`: how many matched before the limit;
    `levels`: the matches per level, including wisdom-age decisions left out of `items`."""

    items: tuple[Compacted, ...]
    total: int
    levels: dict[Level, int]


def select(
    decisions: Iterable[Decision],
    now: datetime,
    *,
    level: Level | None,
    include_preserved: bool,
    limit: int,
) -> Selection:
    """The decisions `cstp.getCompacted` lists, each with its level.

    Without a level, wisdom-age decisions are counted but not listed: they are read as aggregates
    (`wisdom`). With a level, exactly the decisions at that level are listed.
    """
    levels: dict[Level, int] = dict.fromkeys(LEVELS, 0)
    listed: list[Compacted] = []
    for d in decisions:
        if d.preserve and not include_preserved:
            continue
        at = level_of(d, now)
        if level is not None and at != level:
            continue
        levels[at] += 1
        if level is None and at == "wisdom":
            continue
        listed.append(Compacted(d, at))
    listed.sort(key=lambda c: (c.decision.date, c.decision.id), reverse=True)
    return Selection(tuple(listed[:limit]), len(listed), levels)


@dataclass(frozen=True, slots=True)
class Principle:
    text: str
    confirmations: int
    example_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CategoryWisdom:
    category: str
    decisions: int
    success_rate: float
    principles: tuple[Principle, ...]
    failure_mode: str | None
    avg_confidence: float
    brier: float | None


def wisdom(decisions: Iterable[Decision], now: datetime, *, min_decisions: int) -> list[CategoryWisdom]:
    """Per category (sorted by name), the reviewed decisions at least 90 days old, if there are
    `min_decisions` of them.

    Age alone decides here, not the preserve mark: preserving a decision keeps its detail in
    listings, and it still counts in what its category has learnt.
    """
    groups: dict[str, list[Decision]] = defaultdict(list)
    for d in decisions:
        if d.status == "reviewed" and d.outcome is not None and (now - d.date).days >= BANDS[-1][0]:
            groups[d.category].append(d)
    return [
        _distil(category, members)
        for category, members in sorted(groups.items())
        if len(members) >= min_decisions
    ]


def _distil(category: str, members: list[Decision]) -> CategoryWisdom:
    newest = sorted(members, key=lambda d: (d.date, d.id), reverse=True)
    confirmed: dict[str, list[str]] = defaultdict(list)
    failed: Counter[str] = Counter()
    for d in newest:
        if not d.pattern:
            continue
        if d.outcome == "success":
            confirmed[d.pattern].append(d.id)
        elif d.outcome in ("failure", "partial"):
            failed[d.pattern] += 1
    ranked = sorted(confirmed.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    principles = tuple(
        Principle(text, len(ids), tuple(ids[:EXAMPLES]))
        for text, ids in ranked
        if len(ids) >= MIN_CONFIRMATIONS
    )[:MAX_PRINCIPLES]
    failure_mode = min(failed, key=lambda p: (-failed[p], p)) if failed else None
    scored = [(d.confidence, OUTCOME_SCORE[d.outcome]) for d in members if d.outcome in OUTCOME_SCORE]
    return CategoryWisdom(
        category=category,
        decisions=len(members),
        success_rate=sum(d.outcome == "success" for d in members) / len(members),
        principles=principles,
        failure_mode=failure_mode,
        avg_confidence=statistics.fmean(d.confidence for d in members),
        brier=brier(scored) if scored else None,
    )
