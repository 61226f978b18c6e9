"""Calibration: how well stated confidence predicts outcomes (Brier score, buckets, advice).

Outcome scores: success 1, partial 0.5, failure and abandoned 0. Brier = mean (confidence − score)²;
accuracy = mean score; gap = accuracy − mean confidence (negative = overconfident).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cstp.domain.models import OUTCOME_SCORE, Decision, DecisionFilter, aware, utcnow

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
class CalibrationQuery:
    agent: str | None = None
    category: str | None = None
    stakes: str | None = None
    project: str | None = None
    feature: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_decisions: int = 5
    window: str | None = None

    def period(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        if self.window in WINDOWS:
            return now - timedelta(days=WINDOWS[self.window]), now
        return (
            aware(self.since) if self.since else None,
            aware(self.until) if self.until else None,
        )

    def store_filter(self, now: datetime) -> DecisionFilter:
        """The same selection as a store filter, so the store reads only what calibration needs."""
        start, end = self.period(now)
        return DecisionFilter(
            category=self.category,
            stakes=(self.stakes,) if self.stakes else (),
            project=self.project,
            feature=self.feature,
            recorded_by=self.agent,
            date_after=start,
            date_before=end,
        )

    def matches(self, d: Decision, start: datetime | None, end: datetime | None) -> bool:
        return (
            (self.agent is None or d.recorded_by == self.agent)
            and (self.category is None or d.category == self.category)
            and (self.stakes is None or d.stakes == self.stakes)
            and (self.project is None or d.project == self.project)
            and (self.feature is None or d.feature == self.feature)
            and (start is None or d.date >= start)
            and (end is None or d.date <= end)
        )


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


def calibrate(decisions: Iterable[Decision], q: CalibrationQuery) -> dict[str, Any]:
    """The getCalibration result (wire keys; both camelCase and snake_case in `overall`)."""
    now = utcnow()
    start, end = q.period(now)
    selected = [d for d in decisions if q.matches(d, start, end)]
    reviewed = [d for d in selected if d.outcome in OUTCOME_SCORE]
    pairs = [(d.confidence, OUTCOME_SCORE[d.outcome or ""]) for d in reviewed]
    overall: dict[str, Any] | None = None
    recommendations: list[dict[str, str]] = []
    if len(pairs) >= max(q.min_decisions, MIN_REVIEWED_FLOOR):
        brier = statistics.fmean((c - o) ** 2 for c, o in pairs)
        accuracy = statistics.fmean(o for _, o in pairs)
        gap = accuracy - statistics.fmean(c for c, _ in pairs)
        overall = {
            "brierScore": round(brier, 4),
            "accuracy": round(accuracy, 4),
            "totalDecisions": len(selected),
            "reviewedDecisions": len(pairs),
            "calibrationGap": round(gap, 4),
            "interpretation": interpret(gap),
        }
        # scripts/cstp.py reads snake_case keys here; the dashboard reads camelCase. Send both.
        overall |= {
            "brier_score": overall["brierScore"],
            "total_decisions": overall["totalDecisions"],
            "reviewed_decisions": overall["reviewedDecisions"],
            "calibration_gap": overall["calibrationGap"],
        }
        if q.window:
            overall["window"] = q.window
        if start:
            overall["periodStart"] = start.isoformat()
        if end:
            overall["periodEnd"] = end.isoformat()
        recommendations += _advice(overall)
    else:
        recommendations.append(
            {
                "type": "insufficient_data",
                "message": (
                    f"Only {len(pairs)} reviewed decisions match; at least "
                    f"{max(q.min_decisions, MIN_REVIEWED_FLOOR)} are needed for calibration. "
                    "Review outcomes with cstp.reviewDecision."
                ),
                "severity": "info",
            }
        )
    result: dict[str, Any] = {
        "overall": overall,
        "byConfidenceBucket": _buckets(pairs),
        "recommendations": recommendations,
        "queryTime": now.isoformat(),
    }
    confidences = [d.confidence for d in selected]
    if confidences:
        result["confidenceStats"] = {
            "mean": round(statistics.fmean(confidences), 4),
            "stdDev": round(statistics.pstdev(confidences), 4),
            "min": min(confidences),
            "max": max(confidences),
            "count": len(confidences),
            "bucketCounts": {name: sum(lo <= c < hi for c in confidences) for name, lo, hi in BUCKETS},
        }
    return result


def _buckets(pairs: list[tuple[float, float]]) -> list[dict[str, Any]]:
    out = []
    for name, lo, hi in BUCKETS:
        inside = [(c, o) for c, o in pairs if lo <= c < hi]
        if len(inside) < MIN_BUCKET:
            continue
        success = statistics.fmean(o for _, o in inside)
        expected = statistics.fmean(c for c, _ in inside)
        out.append(
            {
                "bucket": name,
                "decisions": len(inside),
                "successRate": round(success, 4),
                "expectedRate": round(expected, 4),
                "gap": round(success - expected, 4),
                "interpretation": interpret(success - expected),
            }
        )
    return out


def _advice(overall: dict[str, Any]) -> list[dict[str, str]]:
    kind = overall["interpretation"]
    if kind == "overconfident":
        return [
            {
                "type": "overconfidence",
                "severity": "warning",
                "message": "Outcomes fall short of stated confidence; lower confidence or "
                "gather more evidence before deciding.",
            }
        ]
    if kind == "underconfident":
        return [
            {
                "type": "underconfidence",
                "severity": "info",
                "message": "Outcomes beat stated confidence; you can state higher confidence.",
            }
        ]
    if kind == "well_calibrated":
        return [
            {
                "type": "well_calibrated",
                "severity": "info",
                "message": "Stated confidence matches outcomes.",
            }
        ]
    return []
