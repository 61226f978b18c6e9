"""Compaction levels, the scan narrowing, wisdom and the preserve use case, with an explicit clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cstp.adapters.memory_store import MemoryStore
from cstp.domain.compaction import level_of, one_line, scan_filter, select, wisdom
from cstp.domain.decisions import DecisionService
from cstp.domain.errors import DecisionNotFound
from cstp.domain.records import Decision, DecisionDraft, Review
from tests.domain.test_decision_service import CountingEmbedder

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)
DAY = timedelta(days=1)


def decision(
    age: timedelta,
    *,
    id: str = "d0000001",
    outcome: str | None = "success",
    preserve: bool = False,
    category: str = "process",
    pattern: str | None = None,
    confidence: float = 0.8,
) -> Decision:
    d = Decision(
        id=id,
        decision=f"decision {id}",
        confidence=confidence,
        category=category,
        date=NOW - age,
        pattern=pattern,
        preserve=preserve,
    )
    return d.with_review(Review(outcome, NOW, "tester")) if outcome else d


BANDS = [
    (timedelta(0), "full"),
    (7 * DAY - TICK, "full"),
    (7 * DAY, "summary"),
    (30 * DAY - TICK, "summary"),
    (30 * DAY, "digest"),
    (90 * DAY - TICK, "digest"),
    (90 * DAY, "wisdom"),
    (900 * DAY, "wisdom"),
    (-3 * DAY, "full"),  # a date after `now` (a client clock ahead of ours)
]


@pytest.mark.parametrize(("age", "level"), BANDS)
def test_reviewed_decisions_move_down_a_level_at_each_band_boundary(age: timedelta, level: str) -> None:
    assert level_of(decision(age), NOW) == level


@pytest.mark.parametrize(("age", "level"), BANDS)
def test_the_scan_for_a_level_never_drops_a_decision_at_that_level(age: timedelta, level: str) -> None:
    d = decision(age)
    assert scan_filter(None, level_of(d, NOW), NOW).matches(d)


def test_the_scan_for_a_band_leaves_out_other_bands() -> None:
    assert not scan_filter(None, "summary", NOW).matches(decision(40 * DAY))
    assert not scan_filter(None, "wisdom", NOW).matches(decision(100 * DAY, outcome=None))


def test_pending_and_preserved_decisions_stay_full_at_any_age() -> None:
    assert level_of(decision(900 * DAY, outcome=None), NOW) == "full"
    assert level_of(decision(900 * DAY, preserve=True), NOW) == "full"


def test_one_line_cuts_long_text_with_an_ellipsis() -> None:
    assert one_line("x" * 80) == "x" * 80
    assert one_line("y" * 81) == "y" * 77 + "..."


def test_select_lists_newest_first_and_counts_before_the_limit() -> None:
    items = [decision(n * DAY, id=f"d{n:07d}") for n in (1, 10, 3, 40, 200)]
    chosen = select(items, NOW, level=None, include_preserved=True, limit=2)
    assert [c.decision.id for c in chosen.items] == ["d0000001", "d0000003"]
    assert chosen.total == 4  # the wisdom-age one is counted in levels only
    assert chosen.levels == {"full": 2, "summary": 1, "digest": 1, "wisdom": 1}


def test_wisdom_distils_old_reviewed_decisions_per_category() -> None:
    old = 100 * DAY
    items = [
        decision(old + 1 * DAY, id="a1", pattern="cache first", confidence=0.9),
        decision(old + 2 * DAY, id="a2", pattern="cache first", confidence=0.9),
        decision(old + 3 * DAY, id="a3", pattern="cache first", preserve=True, confidence=0.9),
        decision(old + 4 * DAY, id="a4", pattern="cache first", confidence=0.9),
        decision(old, id="a5", pattern="big bang", outcome="failure", confidence=0.5),
        decision(old, id="a6", pattern="big bang", outcome="partial", confidence=0.5),
        decision(old, id="a7", pattern="lone", confidence=0.5),  # confirmed once: no principle
        decision(10 * DAY, id="young", pattern="big bang", outcome="failure"),
        decision(old, id="pending", outcome=None, pattern="cache first"),
        decision(old, id="b1", category="security"),
    ]
    (entry,) = wisdom(items, NOW, min_decisions=5)
    assert entry.category == "process" and entry.decisions == 7
    assert entry.success_rate == pytest.approx(5 / 7)
    (principle,) = entry.principles
    assert (principle.text, principle.confirmations) == ("cache first", 4)
    assert principle.example_ids == ("a1", "a2", "a3")  # newest first, at most three
    assert entry.failure_mode == "big bang"
    assert entry.avg_confidence == pytest.approx((4 * 0.9 + 3 * 0.5) / 7)
    expected_brier = (4 * 0.1**2 + 0.5**2 + 0.0**2 + 0.5**2) / 7
    assert entry.brier == pytest.approx(expected_brier)
    assert [w.category for w in wisdom(items, NOW, min_decisions=1)] == ["process", "security"]


def test_set_preserve_bumps_the_revision_and_is_stored() -> None:
    store = MemoryStore("test-3")
    svc = DecisionService(store, CountingEmbedder())
    d = svc.record(DecisionDraft(decision="Keep the audit log", confidence=0.7, category="security"), "a")
    marked = svc.set_preserve(d.decision.id, True)
    assert marked.preserve and marked.rev == d.decision.rev + 1
    assert store.get(d.decision.id) == marked
    assert store.index_versions()[d.decision.id] == marked.rev  # written through the normal path
    assert svc.set_preserve(d.decision.id, True).rev == marked.rev  # unchanged: nothing written
    assert not svc.set_preserve(d.decision.id, False).preserve
    with pytest.raises(DecisionNotFound):
        svc.set_preserve("ffffffff", True)
