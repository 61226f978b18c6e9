"""Calibration drift: is the last month's calibration worse than the months before it?

Reviewed decisions are split by decision date into two disjoint windows ending `now`: *recent*
(the last 30 days) and *historical* (30 to 120 days ago, labelled "90d+" on the wire). Each window
is scored with `domain.calibration.calibrate`, so Brier and accuracy mean exactly what
`cstp.getCalibration` reports. An alert needs both a relative change past the caller's threshold
and an absolute floor (Brier +0.03, accuracy −0.05): on small scores a tiny wobble is a large
percentage, and the floor keeps that from reading as drift.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from cstp.domain.calibration import MIN_REVIEWED_FLOOR, Advice, Period, Scores, calibrate, calibrate_scores
from cstp.domain.facts import epoch_micros
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision

RECENT_DAYS = 30
HISTORICAL_DAYS = 120
MIN_BRIER_RISE = 0.03
MIN_ACCURACY_DROP = 0.05
BRIER_ERROR_CHANGE = 0.5  # relative Brier rise above which an alert is an error
ACCURACY_ERROR_CHANGE = 0.25  # relative accuracy drop above which an alert is an error
_BASELINE_FLOOR = 0.001  # a baseline this small has no meaningful relative change
# Scores are means of floats: 0.33 − 0.30 is 0.0299999…; a rule stated "at least 0.03" must hold.
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class WindowStats:
    window: str
    brier: float
    accuracy: float
    decisions: int


@dataclass(frozen=True, slots=True)
class DriftAlert:
    type: str  # brier_degradation | accuracy_drop
    category: str | None
    recent_value: float
    historical_value: float
    change_pct: float  # signed percent, negative for an accuracy drop
    severity: str  # warning | error
    message: str


@dataclass(frozen=True, slots=True)
class DriftReport:
    """`recent`/`historical` are None when either window has too few reviewed decisions."""

    drift_detected: bool
    recent: WindowStats | None
    historical: WindowStats | None
    alerts: tuple[DriftAlert, ...]
    advice: tuple[Advice, ...]


def drift_filter(flt: DecisionFilter, now: datetime) -> DecisionFilter:
    """`flt` narrowed to reviewed decisions of both windows, for the store to select with."""
    return dataclasses.replace(
        flt,
        has_outcome=True,
        date_after=now - timedelta(days=HISTORICAL_DAYS),
        date_before=now,
    )


def check_drift(
    decisions: Iterable[Decision],
    *,
    now: datetime,
    threshold_brier: float,
    threshold_accuracy: float,
    category: str | None,
    min_decisions: int,
) -> DriftReport:
    """Compare the two windows of `decisions` (already selected by `drift_filter`).

    A decision dated exactly 30 days ago belongs to the historical window only, so no decision is
    counted twice. `min_decisions` below the calibration floor (3) acts as that floor.
    """
    boundary = now - timedelta(days=RECENT_DAYS)
    recent: list[Decision] = []
    historical: list[Decision] = []
    for d in decisions:
        (recent if d.date > boundary else historical).append(d)
    needed = max(min_decisions, MIN_REVIEWED_FLOOR)
    return _report(
        {"recent": len(recent), "historical": len(historical)},
        lambda: (_score("30d", recent, now, needed), _score("90d+", historical, now, needed)),
        needed,
        threshold_brier,
        threshold_accuracy,
        category,
    )


def check_drift_scores(
    scores: Scores,
    *,
    now: datetime,
    threshold_brier: float,
    threshold_accuracy: float,
    category: str | None,
    min_decisions: int,
) -> DriftReport:
    """`check_drift` on columns (`Catalogue.scores` of the caller's filter without its dates):
    the reviewed decisions of the last 90 days, split at 30 days exactly as `check_drift` does."""
    start_us, end_us = epoch_micros(now - timedelta(days=HISTORICAL_DAYS)), epoch_micros(now)
    boundary_us = epoch_micros(now - timedelta(days=RECENT_DAYS))
    dates = scores.date_us
    chosen = scores.where(~np.isnan(scores.score) & (dates >= start_us) & (dates <= end_us))
    recent = chosen.where(chosen.date_us > boundary_us)
    historical = chosen.where(chosen.date_us <= boundary_us)
    needed = max(min_decisions, MIN_REVIEWED_FLOOR)

    def score(label: str, window: Scores) -> WindowStats:
        overall = calibrate_scores(window, period=Period(), now=now, min_decisions=needed).overall
        assert overall is not None  # every member is reviewed and there are at least `needed`
        return WindowStats(label, overall.brier, overall.accuracy, len(window.confidence))

    return _report(
        {"recent": len(recent.confidence), "historical": len(historical.confidence)},
        lambda: (score("30d", recent), score("90d+", historical)),
        needed,
        threshold_brier,
        threshold_accuracy,
        category,
    )


def _report(
    sizes: dict[str, int],
    scored: Callable[[], tuple[WindowStats, WindowStats]],
    needed: int,
    threshold_brier: float,
    threshold_accuracy: float,
    category: str | None,
) -> DriftReport:
    for name, size in sizes.items():
        if size < needed:
            message = f"Need at least {needed} {name} reviewed decisions for drift detection (found {size})"
            return DriftReport(False, None, None, (), (Advice("insufficient_data", "info", message),))
    recent_stats, historical_stats = scored()
    alerts = _alerts(recent_stats, historical_stats, threshold_brier, threshold_accuracy, category)
    return DriftReport(bool(alerts), recent_stats, historical_stats, alerts, _advice(alerts))


def _score(label: str, window: list[Decision], now: datetime, needed: int) -> WindowStats:
    overall = calibrate(window, period=Period(), now=now, min_decisions=needed).overall
    assert overall is not None  # every member is reviewed and there are at least `needed`
    return WindowStats(label, overall.brier, overall.accuracy, len(window))


def _alerts(
    recent: WindowStats,
    historical: WindowStats,
    threshold_brier: float,
    threshold_accuracy: float,
    category: str | None,
) -> tuple[DriftAlert, ...]:
    prefix = f"{category.title()} decisions: " if category else ""
    alerts: list[DriftAlert] = []
    rise = recent.brier - historical.brier
    if historical.brier > _BASELINE_FLOOR and rise >= MIN_BRIER_RISE - _EPS:
        change = rise / historical.brier
        if change > threshold_brier + _EPS:
            alerts.append(
                DriftAlert(
                    "brier_degradation",
                    category,
                    recent.brier,
                    historical.brier,
                    change * 100,
                    "error" if change > BRIER_ERROR_CHANGE + _EPS else "warning",
                    f"{prefix}Brier score degraded {change * 100:.0f}% "
                    f"({historical.brier:.2f} → {recent.brier:.2f})",
                )
            )
    drop = historical.accuracy - recent.accuracy
    if historical.accuracy > _BASELINE_FLOOR and drop >= MIN_ACCURACY_DROP - _EPS:
        change = drop / historical.accuracy
        if change > threshold_accuracy + _EPS:
            alerts.append(
                DriftAlert(
                    "accuracy_drop",
                    category,
                    recent.accuracy,
                    historical.accuracy,
                    -change * 100,
                    "error" if change > ACCURACY_ERROR_CHANGE + _EPS else "warning",
                    f"{prefix}Accuracy dropped {change * 100:.0f}% "
                    f"({historical.accuracy * 100:.0f}% → {recent.accuracy * 100:.0f}%)",
                )
            )
    return tuple(alerts)


_ADVICE = {
    "brier_degradation": Advice(
        "recalibrate",
        "info",
        "Consider adjusting confidence estimates - you may be overconfident recently",
    ),
    "accuracy_drop": Advice(
        "review_process",
        "info",
        "Review recent decisions - accuracy has declined from historical baseline",
    ),
}


def _advice(alerts: tuple[DriftAlert, ...]) -> tuple[Advice, ...]:
    kinds = dict.fromkeys(a.type for a in alerts)  # one recommendation per alert type, in order
    return tuple(_ADVICE[k] for k in kinds)
