"""Chart geometry for the dashboard, drawn by the templates as inline SVG.

Charts are computed here from method results and rendered server-side, so pages need no chart
library, work without JavaScript, and pass a CSP without inline script or style (SVG presentation
attributes such as `x`, `height` and `class` are markup, not style). Every function is pure: it
takes the decoded result (or a part of it) and returns plain numbers, which the unit tests check.

All charts share one coordinate system: a `WIDTH` × `HEIGHT` viewBox with `PAD` around the plot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

WIDTH = 600.0
HEIGHT = 240.0
PAD = 32.0
PLOT_W = WIDTH - 2 * PAD
PLOT_H = HEIGHT - 2 * PAD


def _y(fraction: float) -> float:
    """The SVG y of a value in [0, 1] (SVG's y grows downwards)."""
    return round(PAD + PLOT_H * (1.0 - min(max(fraction, 0.0), 1.0)), 2)


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float  # what the bar shows (a rate, or a count)
    x: float
    y: float
    width: float
    height: float
    count: int  # decisions behind the bar
    expected: float | None = None  # reliability: mean stated confidence of the bucket
    expected_y: float | None = None


@dataclass(frozen=True, slots=True)
class Reliability:
    bars: tuple[Bar, ...]
    diagonal: tuple[float, float, float, float]  # x1, y1, x2, y2 of the perfect-calibration line


def _bucket_low(name: str) -> float:
    try:
        return float(name.split("-", 1)[0])
    except ValueError:
        return 0.0


def reliability(buckets: Sequence[Mapping[str, Any]]) -> Reliability:
    """One bar per confidence bucket of `cstp.getCalibration` (`byConfidenceBucket`), lowest
    confidence first: the bar's height is the bucket's actual success rate, its marker the mean
    stated confidence; a calibrated agent's bars reach their markers."""
    ordered = sorted(buckets, key=lambda b: _bucket_low(str(b.get("bucket", ""))))
    slot = PLOT_W / max(len(ordered), 1)
    width = round(slot * 0.6, 2)
    bars = []
    for i, b in enumerate(ordered):
        rate = float(b.get("successRate", 0.0))
        expected = float(b.get("expectedRate", 0.0))
        x = round(PAD + i * slot + (slot - width) / 2, 2)
        y = _y(rate)
        bars.append(
            Bar(
                label=str(b.get("bucket", "")),
                value=rate,
                x=x,
                y=y,
                width=width,
                height=round(PAD + PLOT_H - y, 2),
                count=int(b.get("decisions", 0)),
                expected=expected,
                expected_y=_y(expected),
            )
        )
    return Reliability(tuple(bars), (PAD, PAD + PLOT_H, PAD + PLOT_W, PAD))


@dataclass(frozen=True, slots=True)
class Columns:
    bars: tuple[Bar, ...]
    peak: int  # the largest count (the y axis' top)


def per_day(by_day: Sequence[Mapping[str, Any]], today: date, days: int = 30) -> Columns:
    """Decisions per day for the `days` days ending `today`, oldest first: `cstp.getStats`'s
    `byDay` lists only days that have decisions (newest first), so the missing days are zeros."""
    counts: dict[str, int] = {}
    for row in by_day:
        counts[str(row.get("date", ""))] = int(row.get("count", 0))
    series = [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    peak = max((counts.get(d, 0) for d in series), default=0)
    slot = PLOT_W / days
    width = round(slot * 0.8, 2)
    bars = []
    for i, day in enumerate(series):
        n = counts.get(day, 0)
        y = _y(n / peak) if peak else _y(0.0)
        bars.append(
            Bar(
                label=day,
                value=float(n),
                x=round(PAD + i * slot + (slot - width) / 2, 2),
                y=y,
                width=width,
                height=round(PAD + PLOT_H - y, 2),
                count=n,
            )
        )
    return Columns(tuple(bars), peak)


@dataclass(frozen=True, slots=True)
class Point:
    label: str
    value: float | None  # None: too few reviewed decisions in the period
    x: float
    y: float | None
    count: int


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: tuple[Point, ...]
    path: str  # SVG polyline points of the periods that have a value


def over_time(periods: Sequence[tuple[str, Mapping[str, Any] | None]], key: str, name: str) -> Series:
    """One line of `key` (`brierScore` or `accuracy`, both in [0, 1]) across `cstp.getCalibration`
    results for consecutive periods, oldest first. A period whose `overall` says
    `insufficient_data` has no point (its value would be a placeholder, not a measurement)."""
    slot = PLOT_W / max(len(periods) - 1, 1)
    points = []
    for i, (label, overall) in enumerate(periods):
        x = round(PAD + i * slot, 2) if len(periods) > 1 else PAD + PLOT_W / 2
        usable = overall is not None and overall.get("interpretation") != "insufficient_data"
        value = float(overall[key]) if usable and overall is not None else None
        count = int(overall.get("reviewedDecisions", 0)) if overall is not None else 0
        points.append(Point(label, value, x, _y(value) if value is not None else None, count))
    path = " ".join(f"{p.x},{p.y}" for p in points if p.y is not None)
    return Series(name, tuple(points), path)


def periods(today: date, count: int = 6, days: int = 30) -> list[tuple[str, date, date]]:
    """`count` consecutive periods of `days` days ending `today`, oldest first: (label, since,
    until) with `until` exclusive."""
    out = []
    end = today + timedelta(days=1)
    for i in range(count):
        until = end - timedelta(days=days * (count - 1 - i))
        since = until - timedelta(days=days)
        out.append((f"{since.isoformat()} – {(until - timedelta(days=1)).isoformat()}", since, until))
    return out
