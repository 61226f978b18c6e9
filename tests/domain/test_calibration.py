"""Calibration math in the domain: Brier score, buckets, interpretation, periods and filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cstp.domain.calibration import Period, calibrate, calibration_filter, interpret, period_for
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision, Review

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def decision(n: int, confidence: float, outcome: str | None) -> Decision:
    d = Decision(
        id=f"d{n:07d}", decision="d", category="process", confidence=confidence, stakes="low", date=NOW
    )
    return d.with_review(Review(outcome, NOW, "r")) if outcome else d


def test_brier_accuracy_and_gap_of_an_overconfident_agent() -> None:
    ds = [decision(i, 0.9, "failure") for i in range(3)] + [decision(i + 3, 0.9, "success") for i in range(3)]
    c = calibrate(ds, period=Period(), now=NOW)
    assert c.overall is not None
    assert c.overall.brier == pytest.approx((3 * 0.81 + 3 * 0.01) / 6)
    assert c.overall.accuracy == 0.5 and c.overall.gap == pytest.approx(-0.4)
    assert c.overall.interpretation == "overconfident" and c.advice[0].type == "overconfidence"
    assert [(b.name, b.decisions) for b in c.buckets] == [("0.9-1.0", 6)]


def test_partial_counts_half_and_unreviewed_decisions_count_only_in_totals() -> None:
    ds = [decision(i, 0.5, "partial") for i in range(3)] + [decision(9, 0.8, None)]
    c = calibrate(ds, period=Period(), now=NOW, min_decisions=3)
    assert c.overall is not None and c.overall.accuracy == 0.5 and c.overall.gap == 0.0
    assert c.overall.total_decisions == 4 and c.overall.reviewed_decisions == 3
    assert c.confidence_stats is not None and c.confidence_stats.count == 4


def test_too_few_reviews_give_no_overall_but_say_how_many_are_needed() -> None:
    c = calibrate([decision(1, 0.7, "success")], period=Period(), now=NOW, min_decisions=1)
    assert c.overall is None and c.advice[0].type == "insufficient_data"
    assert (c.total_decisions, c.reviewed_decisions) == (1, 1)
    assert "at least 3" in c.advice[0].message  # the floor applies even below it


def test_buckets_below_three_decisions_are_left_out() -> None:
    ds = [decision(i, 0.95, "success") for i in range(3)] + [
        decision(i + 3, 0.6, "success") for i in range(2)
    ]
    assert [b.name for b in calibrate(ds, period=Period(), now=NOW).buckets] == ["0.9-1.0"]


@pytest.mark.parametrize(
    ("gap", "label"),
    [
        (0.0, "well_calibrated"),
        (-0.049, "well_calibrated"),
        (-0.08, "slightly_overconfident"),
        (-0.2, "overconfident"),
        (0.08, "slightly_underconfident"),
        (0.2, "underconfident"),
    ],
)
def test_interpretation_thresholds(gap: float, label: str) -> None:
    assert interpret(gap) == label


def test_a_rolling_window_wins_over_since_and_until_and_ends_now() -> None:
    p = period_for("30d", NOW - timedelta(days=400), NOW - timedelta(days=300), NOW)
    assert p == Period(NOW - timedelta(days=30), NOW, "30d")
    naive = datetime(2026, 1, 1)
    assert period_for(None, naive, None, NOW) == Period(naive.replace(tzinfo=UTC), None)


def test_the_period_narrows_the_callers_filter() -> None:
    flt = calibration_filter(DecisionFilter(project="p"), Period(NOW - timedelta(days=1), NOW))
    assert flt == DecisionFilter(project="p", date_after=NOW - timedelta(days=1), date_before=NOW)
