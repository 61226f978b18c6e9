"""What the agent-workflow methods know about the whole store, computed in one pass.

getSessionContext (profile, calibration by category, ready queue, confirmed patterns, wisdom),
cstp.ready (overdue reviews, stale pending decisions, calibration drift) and preAction
(calibration of the action's category) all summarise every stored decision. Reading and decoding
10k records takes about a second, far beyond what those calls may cost, so the summaries are
built together by `build_digest` from one scan and cached (`runtime.snapshot`).

Rules follow the reference server:
- profile: every decision (not only the caller's); accuracy counts partial as 0.5, while strongest
  and weakest category (≥ 3 reviewed) use the plain success rate;
- calibration by category: categories with ≥ 3 reviewed decisions;
- ready: `review_outcome` for pending decisions whose `review_by` day is before today (priority by
  stakes), `stale_pending` for pending decisions older than 30 days without `review_by` (high past
  60), `calibration_drift` per reviewed category (thresholds 0.20 / 0.15, 5 decisions; high at a
  change ≥ 40 %); sorted by priority, type, oldest date;
- confirmed patterns: patterns of two or more decisions, most frequent first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cstp.domain.calibration import Calibration, Period, calibrate, interpret
from cstp.domain.compaction import CategoryWisdom, wisdom
from cstp.domain.drift import HISTORICAL_DAYS, check_drift
from cstp.domain.records import OUTCOME_SCORE, Decision

STALE_MEDIUM_DAYS = 30
STALE_HIGH_DAYS = 60
DRIFT_HIGH_PCT = 40.0
MIN_CATEGORY_REVIEWED = 3
PRIORITY = {"low": 0, "medium": 1, "high": 2}
TYPE_ORDER = {"review_outcome": 0, "calibration_drift": 1, "stale_pending": 2}


@dataclass(frozen=True, slots=True)
class Profile:
    total_decisions: int
    reviewed: int
    overall_accuracy: float | None = None
    brier_score: float | None = None
    tendency: str | None = None
    strongest_category: str | None = None
    weakest_category: str | None = None
    active_since: str | None = None


@dataclass(frozen=True, slots=True)
class ReadyAction:
    type: str
    priority: str
    reason: str
    suggestion: str
    decision_id: str | None = None
    category: str | None = None
    date: str | None = None
    title: str | None = None
    detail: str | None = None

    def sort_key(self) -> tuple[int, int, str]:
        return (-PRIORITY[self.priority], TYPE_ORDER[self.type], self.date or "9999-99-99")


@dataclass(frozen=True, slots=True)
class Pattern:
    pattern: str
    count: int
    categories: tuple[str, ...]
    example_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    """The summaries of every decision stored when `built_at` was read."""

    built_at: datetime
    profile: Profile
    calibration: Calibration  # every decision
    by_category: dict[str, Calibration]  # every category with a decision (preAction's context)
    ready: tuple[ReadyAction, ...]  # all actions, sorted
    patterns: tuple[Pattern, ...]
    wisdom: tuple[CategoryWisdom, ...] = field(default=())

    def calibration_by_category(self) -> dict[str, Calibration]:
        """Categories with at least MIN_CATEGORY_REVIEWED reviewed decisions."""
        return {
            c: cal for c, cal in self.by_category.items() if cal.reviewed_decisions >= MIN_CATEGORY_REVIEWED
        }


def build_digest(decisions: Iterable[Decision], now: datetime) -> Digest:
    every = list(decisions)
    by_category: dict[str, list[Decision]] = defaultdict(list)
    for d in every:
        by_category[d.category].append(d)
    period = Period()
    return Digest(
        built_at=now,
        profile=profile(every),
        calibration=calibrate(every, period=period, now=now, min_decisions=MIN_CATEGORY_REVIEWED),
        by_category={
            c: calibrate(ds, period=period, now=now, min_decisions=MIN_CATEGORY_REVIEWED)
            for c, ds in sorted(by_category.items())
        },
        ready=tuple(sorted(ready_actions(every, by_category, now), key=ReadyAction.sort_key)),
        patterns=confirmed_patterns(every),
        wisdom=tuple(wisdom(every, now, min_decisions=5)),
    )


def profile(decisions: list[Decision]) -> Profile:
    reviewed = [d for d in decisions if d.outcome in OUTCOME_SCORE]
    active_since = min((d.date for d in decisions), default=None)
    since = active_since.date().isoformat() if active_since else None
    if not reviewed:
        return Profile(len(decisions), 0, active_since=since)
    scores = [OUTCOME_SCORE[d.outcome or ""] for d in reviewed]
    accuracy = sum(scores) / len(scores)
    brier = sum((d.confidence - s) ** 2 for d, s in zip(reviewed, scores, strict=True)) / len(reviewed)
    gap = accuracy - sum(d.confidence for d in reviewed) / len(reviewed)
    wins: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for d in reviewed:
        wins[d.category][1] += 1
        wins[d.category][0] += d.outcome == "success"
    viable = {c: s / n for c, (s, n) in sorted(wins.items()) if n >= MIN_CATEGORY_REVIEWED}
    return Profile(
        total_decisions=len(decisions),
        reviewed=len(reviewed),
        overall_accuracy=round(accuracy, 3),
        brier_score=round(brier, 3),
        tendency=interpret(gap),
        strongest_category=max(viable, key=lambda c: viable[c]) if viable else None,
        weakest_category=min(viable, key=lambda c: viable[c]) if viable else None,
        active_since=since,
    )


def _priority_for_stakes(stakes: str) -> str:
    return "high" if stakes in ("critical", "high") else "medium" if stakes == "medium" else "low"


def ready_actions(
    decisions: list[Decision], by_category: dict[str, list[Decision]], now: datetime
) -> list[ReadyAction]:
    today = now.date()
    actions: list[ReadyAction] = []
    for d in decisions:
        if d.status != "pending":
            continue
        day = d.date.date().isoformat()
        review_by = d.details.get("review_by")
        if isinstance(review_by, str) and review_by:
            if review_by >= today.isoformat():
                continue
            try:
                overdue = (today - datetime.fromisoformat(review_by).date()).days
            except ValueError:
                overdue = 0
            actions.append(
                ReadyAction(
                    "review_outcome",
                    _priority_for_stakes(d.stakes),
                    f"Decision needs outcome review (due {review_by}, {overdue}d overdue)",
                    "Use reviewDecision to record what happened",
                    d.id,
                    d.category,
                    day,
                    d.decision[:80],
                    f"review by {review_by} ({overdue}d overdue)",
                )
            )
            continue
        age = (now - d.date).days
        if d.date.date() >= today - timedelta(days=STALE_MEDIUM_DAYS):
            continue
        actions.append(
            ReadyAction(
                "stale_pending",
                "high" if d.date.date() < today - timedelta(days=STALE_HIGH_DAYS) else "medium",
                f"Decision pending for {age} days with no outcome",
                "Review and record outcome, or mark as abandoned",
                d.id,
                d.category,
                day,
                d.decision[:80],
                f"pending {age} days",
            )
        )
    window_start = now - timedelta(days=HISTORICAL_DAYS)
    for category, members in sorted(by_category.items()):
        reviewed = [d for d in members if d.outcome is not None and window_start < d.date <= now]
        if not any(d.outcome is not None for d in members):
            continue
        report = check_drift(
            reviewed,
            now=now,
            threshold_brier=0.20,
            threshold_accuracy=0.15,
            category=category,
            min_decisions=5,
        )
        for alert in report.alerts:
            actions.append(
                ReadyAction(
                    "calibration_drift",
                    "high" if abs(alert.change_pct) >= DRIFT_HIGH_PCT else "medium",
                    alert.message,
                    f"Review recent {category} decisions — calibration has degraded from historical baseline",
                    category=category,
                )
            )
    return actions


def confirmed_patterns(decisions: list[Decision]) -> tuple[Pattern, ...]:
    ids: dict[str, list[str]] = defaultdict(list)
    categories: dict[str, set[str]] = defaultdict(set)
    for d in sorted(decisions, key=lambda d: d.date):
        if d.pattern:
            ids[d.pattern].append(d.id)
            categories[d.pattern].add(d.category)
    found = [
        Pattern(p, len(members), tuple(sorted(categories[p])), tuple(members[:5]))
        for p, members in ids.items()
        if len(members) >= 2
    ]
    return tuple(sorted(found, key=lambda p: -p.count))
