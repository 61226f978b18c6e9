"""Chart data: bucket order and heights, day filling, periods and series (pure functions)."""

from __future__ import annotations

from datetime import date

import pytest

from cstp.web.ui import charts
from cstp.web.ui.charts import PAD, PLOT_H, PLOT_W


def _bucket(name: str, rate: float, expected: float, n: int) -> dict[str, object]:
    return {"bucket": name, "successRate": rate, "expectedRate": expected, "decisions": n}


def test_reliability_orders_buckets_by_confidence_and_scales_heights() -> None:
    # getCalibration lists the highest bucket first; the diagram reads left (low) to right (high).
    diagram = charts.reliability(
        [_bucket("0.9-1.0", 1.0, 0.95, 4), _bucket("0.5-0.7", 0.5, 0.6, 3), _bucket("0.0-0.5", 0.0, 0.3, 7)]
    )
    assert [b.label for b in diagram.bars] == ["0.0-0.5", "0.5-0.7", "0.9-1.0"]
    assert [b.count for b in diagram.bars] == [7, 3, 4]
    low, mid, high = diagram.bars
    bottom = PAD + PLOT_H
    assert low.height == 0 and low.y == bottom  # 0% success: no bar
    assert mid.height == pytest.approx(PLOT_H / 2) and mid.y == pytest.approx(bottom - PLOT_H / 2)
    assert high.height == pytest.approx(PLOT_H) and high.y == PAD
    assert high.expected_y == pytest.approx(bottom - 0.95 * PLOT_H)
    # Bars sit in equal slots, left to right, inside the plot.
    assert low.x < mid.x < high.x and low.x >= PAD and high.x + high.width <= PAD + PLOT_W
    assert diagram.diagonal == (PAD, bottom, PAD + PLOT_W, PAD)


def test_reliability_clamps_out_of_range_rates_and_handles_no_buckets() -> None:
    (bar,) = charts.reliability([_bucket("0.7-0.9", 1.4, -0.2, 3)]).bars
    assert bar.y == PAD and bar.expected_y == PAD + PLOT_H
    assert charts.reliability([]).bars == ()


def test_per_day_fills_missing_days_with_zeros_oldest_first() -> None:
    today = date(2026, 3, 31)
    by_day = [
        {"date": "2026-03-31", "count": 4},
        {"date": "2026-03-29", "count": 2},
        {"date": "2026-01-01", "count": 9},
    ]
    cols = charts.per_day(by_day, today, days=5)
    assert [b.label for b in cols.bars] == [
        "2026-03-27",
        "2026-03-28",
        "2026-03-29",
        "2026-03-30",
        "2026-03-31",
    ]
    assert [b.count for b in cols.bars] == [0, 0, 2, 0, 4]
    assert cols.peak == 4  # a day outside the window does not set the scale
    assert cols.bars[-1].height == pytest.approx(PLOT_H) and cols.bars[2].height == pytest.approx(PLOT_H / 2)
    assert cols.bars[0].height == 0


def test_per_day_with_no_decisions_is_all_zero() -> None:
    cols = charts.per_day([], date(2026, 3, 31))
    assert len(cols.bars) == 30 and cols.peak == 0 and all(b.height == 0 for b in cols.bars)


def test_periods_are_consecutive_and_end_today() -> None:
    got = charts.periods(date(2026, 6, 30), count=3, days=30)
    assert [(s.isoformat(), u.isoformat()) for _, s, u in got] == [
        ("2026-04-02", "2026-05-02"),
        ("2026-05-02", "2026-06-01"),
        ("2026-06-01", "2026-07-01"),  # `until` is exclusive: today is inside the last period
    ]
    assert got[0][0] == "2026-04-02 – 2026-05-01"


def test_over_time_skips_periods_without_enough_data() -> None:
    periods = [
        (
            "p1",
            {"brierScore": 0.2, "accuracy": 0.5, "interpretation": "well_calibrated", "reviewedDecisions": 8},
        ),
        (
            "p2",
            {
                "brierScore": 0.0,
                "accuracy": 0.0,
                "interpretation": "insufficient_data",
                "reviewedDecisions": 1,
            },
        ),
        ("p3", None),
        (
            "p4",
            {"brierScore": 0.5, "accuracy": 1.0, "interpretation": "overconfident", "reviewedDecisions": 6},
        ),
    ]
    series = charts.over_time(periods, "brierScore", "Brier")
    assert [p.value for p in series.points] == [0.2, None, None, 0.5]
    assert [p.count for p in series.points] == [8, 1, 0, 6]
    xs = [p.x for p in series.points]
    assert xs[0] == PAD and xs[-1] == pytest.approx(PAD + PLOT_W) and xs == sorted(xs)
    first, last = series.points[0], series.points[3]
    assert series.path == f"{first.x},{first.y} {last.x},{last.y}"
    assert first.y == pytest.approx(PAD + PLOT_H * 0.8)
