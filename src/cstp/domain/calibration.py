"""Calibration: how well stated confidence predicts outcomes (Brier score, buckets, advice).

Outcome scores: success 1, partial 0.5, failure and abandoned 0. Brier = mean (confidence − score)²;
accuracy = mean score; gap = accuracy − mean confidence (negative = overconfident).

Calibration is a `DecisionFilter` plus a period: `calibration_filter` narrows the caller's filter to
the period, the store selects, and `calibrate` trusts that selection (no second filter here). The
caller reads the clock once and passes `now` to both.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from cstp.domain.filters import DecisionFilter
from cstp.domain.records import OUTCOME_SCORE, Decision, aware

BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("0.9-1.0", 0.9, 1.01),
    ("0.7-0.9", 0.7, 0.9),
    ("0.5-0.7", 0.5, 0.7),
    ("0.0-0.5", 0.0, 0.5),
)
WINDOWS = {"30d": 30, "60d": 60, "90d": 90}
MIN_REVIEWED_FLOOR = 3
MIN_BUCKET = 3


@dataclass(frozen=True, slots=True)
class Period:
    """The decision dates calibration covers; `window` names a rolling window ("30d", ...)."""

    start: datetime | None = None
    end: datetime | None = None
    window: str | None = None


def period_for(window: str | None, since: datetime | None, until: datetime | None, now: datetime) -> Period:
    """A rolling window ending `now` wins over explicit `since`/`until` bounds."""
    if window in WINDOWS:
        return Period(now - timedelta(days=WINDOWS[window]), now, window)
    return Period(aware(since) if since else None, aware(until) if until else None)


def calibration_filter(flt: DecisionFilter, period: Period) -> DecisionFilter:
    """`flt` narrowed to the period, for the store to select with."""
    return dataclasses.replace(flt, date_after=period.start, date_before=period.end)


@dataclass(frozen=True, slots=True)
class Overall:
    brier: float
    accuracy: float
    total_decisions: int
    reviewed_decisions: int
    gap: float
    interpretation: str


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    decisions: int
    success_rate: float
    expected_rate: float
    gap: float
    interpretation: str


@dataclass(frozen=True, slots=True)
class Advice:
    type: str
    severity: str
    message: str


@dataclass(frozen=True, slots=True)
class ConfidenceStats:
    mean: float
    std_dev: float
    min: float
    max: float
    count: int
    bucket_counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class Calibration:
    """The result; `overall` is None when too few reviewed decisions match (the counts say how
    many matched and how many of those were reviewed, either way)."""

    overall: Overall | None
    buckets: tuple[Bucket, ...]
    advice: tuple[Advice, ...]
    confidence_stats: ConfidenceStats | None
    period: Period
    computed_at: datetime
    total_decisions: int = 0
    reviewed_decisions: int = 0


def brier(pairs: Iterable[tuple[float, float]]) -> float:
    """The Brier score of (stated confidence, outcome score) pairs: their mean squared gap. Every
    analysis that reports one (calibration, reason stats, wisdom) computes it here."""
    return statistics.fmean((c - o) ** 2 for c, o in pairs)


def interpret(gap: float) -> str:
    if abs(gap) < 0.05:
        return "well_calibrated"
    if gap < -0.10:
        return "overconfident"
    if gap < 0:
        return "slightly_overconfident"
    if gap > 0.10:
        return "underconfident"
    return "slightly_underconfident"


def _verdict(
    total: int, reviewed: int, needed: int, measure: Callable[[], tuple[float, float, float]]
) -> tuple[Overall | None, tuple[Advice, ...]]:
    """The overall figures and the advice, shared by `calibrate` and `calibrate_scores` (which
    differ only in how they sum): `measure()` gives (Brier score, accuracy, mean confidence) of the
    reviewed decisions, and is called only when at least `needed` were reviewed."""
    if reviewed < needed:
        return None, (
            Advice(
                "insufficient_data",
                "info",
                f"Only {reviewed} reviewed decisions match; at least {needed} are needed for "
                "calibration. Review outcomes with cstp.reviewDecision.",
            ),
        )
    brier_score, accuracy, mean_confidence = measure()
    gap = accuracy - mean_confidence
    overall = Overall(
        brier=brier_score,
        accuracy=accuracy,
        total_decisions=total,
        reviewed_decisions=reviewed,
        gap=gap,
        interpretation=interpret(gap),
    )
    return overall, _advice(overall.interpretation)


def calibrate(
    decisions: Iterable[Decision], *, period: Period, now: datetime, min_decisions: int = 5
) -> Calibration:
    """Calibration of `decisions` (already selected by `calibration_filter`)."""
    selected = list(decisions)
    pairs = [(d.confidence, OUTCOME_SCORE[d.outcome]) for d in selected if d.outcome in OUTCOME_SCORE]
    overall, advice = _verdict(
        len(selected),
        len(pairs),
        max(min_decisions, MIN_REVIEWED_FLOOR),
        lambda: (
            brier(pairs),
            statistics.fmean(o for _, o in pairs),
            statistics.fmean(c for c, _ in pairs),
        ),
    )
    return Calibration(
        overall,
        _buckets(pairs),
        advice,
        _confidence_stats(selected),
        period,
        now,
        total_decisions=len(selected),
        reviewed_decisions=len(pairs),
    )


@dataclass(frozen=True, slots=True)
class Scores:
    """Calibration's inputs as columns (from the browse catalogue, `Catalogue.scores`): each
    selected decision's confidence, its outcome score (NaN: not reviewed) and its date."""

    confidence: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    date_us: npt.NDArray[np.int64]

    def where(self, mask: npt.NDArray[np.bool_]) -> Scores:
        return Scores(self.confidence[mask], self.score[mask], self.date_us[mask])


def _mean(values: npt.NDArray[np.float64]) -> float:
    """`statistics.fmean` of a column, to the same bit: fmean is fsum / n."""
    return math.fsum(values.tolist()) / len(values)


def calibrate_scores(scores: Scores, *, period: Period, now: datetime, min_decisions: int = 5) -> Calibration:
    """`calibrate` on columns: the same result (the same sums, in the same exact arithmetic; only
    the standard deviation of the confidences is numpy's, equal to `pstdev` within rounding)."""
    reviewed = ~np.isnan(scores.score)
    conf, score = scores.confidence[reviewed], scores.score[reviewed]
    count = len(conf)
    overall, advice = _verdict(
        len(scores.confidence),
        count,
        max(min_decisions, MIN_REVIEWED_FLOOR),
        lambda: (_mean((conf - score) ** 2), _mean(score), _mean(conf)),
    )
    buckets = []
    for name, lo, hi in BUCKETS:
        inside = (conf >= lo) & (conf < hi)
        n = int(np.count_nonzero(inside))
        if n < MIN_BUCKET:
            continue
        success, expected = _mean(score[inside]), _mean(conf[inside])
        buckets.append(Bucket(name, n, success, expected, success - expected, interpret(success - expected)))
    every = scores.confidence
    stats = None
    if len(every):
        stats = ConfidenceStats(
            mean=_mean(every),
            std_dev=float(np.std(every)),
            min=float(every.min()),
            max=float(every.max()),
            count=len(every),
            bucket_counts={
                name: int(np.count_nonzero((every >= lo) & (every < hi))) for name, lo, hi in BUCKETS
            },
        )
    return Calibration(
        overall,
        tuple(buckets),
        advice,
        stats,
        period,
        now,
        total_decisions=len(every),
        reviewed_decisions=count,
    )


def _buckets(pairs: list[tuple[float, float]]) -> tuple[Bucket, ...]:
    out = []
    for name, lo, hi in BUCKETS:
        inside = [(c, o) for c, o in pairs if lo <= c < hi]
        if len(inside) < MIN_BUCKET:
            continue
        success = statistics.fmean(o for _, o in inside)
        expected = statistics.fmean(c for c, _ in inside)
        out.append(
            Bucket(name, len(inside), success, expected, success - expected, interpret(success - expected))
        )
    return tuple(out)


def _confidence_stats(selected: list[Decision]) -> ConfidenceStats | None:
    confidences = [d.confidence for d in selected]
    if not confidences:
        return None
    return ConfidenceStats(
        mean=statistics.fmean(confidences),
        std_dev=statistics.pstdev(confidences),
        min=min(confidences),
        max=max(confidences),
        count=len(confidences),
        bucket_counts={name: sum(lo <= c < hi for c in confidences) for name, lo, hi in BUCKETS},
    )


_ADVICE = {
    "overconfident": Advice(
        "overconfidence",
        "warning",
        "Outcomes fall short of stated confidence; lower confidence or gather more evidence before deciding.",
    ),
    "underconfident": Advice(
        "underconfidence", "info", "Outcomes beat stated confidence; you can state higher confidence."
    ),
    "well_calibrated": Advice("well_calibrated", "info", "Stated confidence matches outcomes."),
}


def _advice(interpretation: str) -> tuple[Advice, ...]:
    found = _ADVICE.get(interpretation)
    return (found,) if found else ()
