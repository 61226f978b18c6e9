"""Reason statistics: which kinds of reasons (analysis, pattern, ...) go with good outcomes, and
whether decisions backed by several independent kinds fare better than single-kind ones.

Only decisions that carry reasons are analysed, and they are the ones `total_decisions` counts.
A reason type counts once per decision (two `analysis` reasons are still one analytical decision),
while strengths are averaged per reason. Success rate scores partial as half a success; abandoned
counts as a failure, as in calibration (`OUTCOME_SCORE`).
"""

from __future__ import annotations

import statistics
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field

from cstp.domain.calibration import Advice, brier
from cstp.domain.records import OUTCOME_SCORE, Decision, ReasonType

KNOWN_TYPES: frozenset[str] = frozenset(typing.get_args(ReasonType))
BEST_SPREAD = 0.15  # best vs worst type success rate, above which the best is recommended
OVERCONFIDENT_CONFIDENCE = 0.8
OVERCONFIDENT_SUCCESS = 0.6
LOW_DIVERSITY = 1.5  # mean distinct types per decision below which diversity is advised
DIVERSITY_GAP = 0.1  # single- vs multi-type success rate difference that is worth a remark
DIVERSITY_MIN_REVIEWED = 2  # reviewed decisions a diversity bucket needs to be compared
_EPS = 1e-9  # rates are float means; a rule stated "more than 0.1" must not fire on 0.1


def _reviewed(d: Decision) -> bool:
    return d.status == "reviewed" and d.outcome is not None


def _score(d: Decision) -> float:
    return OUTCOME_SCORE.get(d.outcome or "", 0.0)


def _rate(reviewed: list[Decision]) -> float:
    """(success + ½·partial) / reviewed."""
    return statistics.fmean(_score(d) for d in reviewed)


def _brier(reviewed: list[Decision]) -> float:
    return brier((d.confidence, _score(d)) for d in reviewed)


@dataclass(frozen=True, slots=True)
class TypeStats:
    reason_type: str
    total_uses: int
    reviewed_uses: int
    success_count: int
    partial_count: int
    failure_count: int
    success_rate: float  # 0.0 when nothing is reviewed (clients multiply it)
    avg_confidence: float
    avg_strength: float
    brier: float | None  # only with at least `min_reviewed` reviewed uses


@dataclass(frozen=True, slots=True)
class DiversityBucket:
    distinct_types: int
    total_decisions: int
    reviewed_decisions: int
    success_rate: float | None  # None: nothing in the bucket is reviewed
    avg_confidence: float  # of the reviewed decisions, or of all when none is reviewed
    brier: float | None


@dataclass(frozen=True, slots=True)
class Diversity:
    avg_types_per_decision: float
    avg_reasons_per_decision: float
    buckets: tuple[DiversityBucket, ...]


@dataclass(frozen=True, slots=True)
class ReasonStats:
    by_type: tuple[TypeStats, ...]
    diversity: Diversity
    advice: tuple[Advice, ...]
    total_decisions: int
    reviewed_decisions: int


@dataclass
class _Acc:
    decisions: list[Decision] = field(default_factory=list)
    strengths: list[float] = field(default_factory=list)


def reason_stats(decisions: Iterable[Decision], *, min_reviewed: int) -> ReasonStats:
    """Statistics of the decisions with reasons among `decisions` (already filtered by the store)."""
    with_reasons = [d for d in decisions if d.reasons]
    by_type = _type_stats(with_reasons, min_reviewed)
    diversity = _diversity(with_reasons)
    return ReasonStats(
        by_type,
        diversity,
        _advice(by_type, diversity, min_reviewed, bool(with_reasons)),
        len(with_reasons),
        sum(_reviewed(d) for d in with_reasons),
    )


def _type_stats(decisions: list[Decision], min_reviewed: int) -> tuple[TypeStats, ...]:
    acc: dict[str, _Acc] = {}
    for d in decisions:
        for r in d.reasons:
            acc.setdefault(r.type, _Acc()).strengths.append(r.strength)
        for t in dict.fromkeys(r.type for r in d.reasons):
            acc[t].decisions.append(d)
    out = []
    for t, a in acc.items():
        reviewed = [d for d in a.decisions if _reviewed(d)]
        outcomes = [d.outcome for d in reviewed]
        success, partial = outcomes.count("success"), outcomes.count("partial")
        out.append(
            TypeStats(
                reason_type=t,
                total_uses=len(a.decisions),
                reviewed_uses=len(reviewed),
                success_count=success,
                partial_count=partial,
                failure_count=len(reviewed) - success - partial,
                success_rate=_rate(reviewed) if reviewed else 0.0,
                avg_confidence=statistics.fmean(d.confidence for d in a.decisions),
                avg_strength=statistics.fmean(a.strengths),
                brier=_brier(reviewed) if reviewed and len(reviewed) >= min_reviewed else None,
            )
        )
    # Types with enough reviews first, best success rate first; the name keeps ties stable.
    out.sort(key=lambda s: s.reason_type)
    out.sort(key=lambda s: (s.reviewed_uses >= min_reviewed, s.success_rate), reverse=True)
    return tuple(out)


def _diversity(decisions: list[Decision]) -> Diversity:
    groups: dict[int, list[Decision]] = {}
    for d in decisions:
        groups.setdefault(len({r.type for r in d.reasons}), []).append(d)
    buckets = []
    for n in sorted(groups):
        members = groups[n]
        reviewed = [d for d in members if _reviewed(d)]
        basis = reviewed or members
        buckets.append(
            DiversityBucket(
                distinct_types=n,
                total_decisions=len(members),
                reviewed_decisions=len(reviewed),
                success_rate=_rate(reviewed) if reviewed else None,
                avg_confidence=statistics.fmean(d.confidence for d in basis),
                brier=_brier(reviewed) if reviewed else None,
            )
        )
    count = len(decisions) or 1
    return Diversity(
        avg_types_per_decision=sum(n * len(g) for n, g in groups.items()) / count,
        avg_reasons_per_decision=sum(len(d.reasons) for d in decisions) / count,
        buckets=tuple(buckets),
    )


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def _advice(
    by_type: tuple[TypeStats, ...], diversity: Diversity, min_reviewed: int, any_decisions: bool
) -> tuple[Advice, ...]:
    advice: list[Advice] = []
    ranked = [s for s in by_type if s.reviewed_uses >= min_reviewed]
    if ranked:
        best = max(ranked, key=lambda s: s.success_rate)
        worst = min(ranked, key=lambda s: s.success_rate)
        if best.success_rate - worst.success_rate > BEST_SPREAD + _EPS:
            advice.append(
                Advice(
                    "best_reason_type",
                    "info",
                    f"'{best.reason_type}' reasoning has {_pct(best.success_rate)} success rate "
                    f"({best.reviewed_uses} decisions), while '{worst.reason_type}' has "
                    f"{_pct(worst.success_rate)}. Consider relying more on "
                    f"{best.reason_type}-based reasoning.",
                )
            )
    for s in ranked:
        if (
            s.avg_confidence > OVERCONFIDENT_CONFIDENCE + _EPS
            and s.success_rate < OVERCONFIDENT_SUCCESS - _EPS
        ):
            advice.append(
                Advice(
                    "overconfident_type",
                    "warning",
                    f"'{s.reason_type}' reasoning: avg confidence {_pct(s.avg_confidence)} but only "
                    f"{_pct(s.success_rate)} success rate. Lower confidence when relying primarily "
                    f"on {s.reason_type}.",
                )
            )
    if any_decisions and diversity.avg_types_per_decision < LOW_DIVERSITY - _EPS:
        advice.append(
            Advice(
                "low_diversity",
                "warning",
                f"Average {diversity.avg_types_per_decision:.1f} distinct reason types per decision. "
                "Parallel bundles of two or more independent reason types are more robust than "
                "single-type chains.",
            )
        )
    advice.extend(_diversity_advice(diversity))
    unused = KNOWN_TYPES - {s.reason_type for s in by_type}
    if unused:
        advice.append(
            Advice(
                "unused_types",
                "info",
                f"Never-used reason types: {', '.join(sorted(unused))}. Consider whether these "
                "perspectives could strengthen decisions.",
            )
        )
    return tuple(advice)


def _diversity_advice(diversity: Diversity) -> list[Advice]:
    comparable = [
        b
        for b in diversity.buckets
        if b.reviewed_decisions >= DIVERSITY_MIN_REVIEWED and b.success_rate is not None
    ]
    single = [b for b in comparable if b.distinct_types == 1]
    multi = [b for b in comparable if b.distinct_types >= 2]
    if not single or not multi or single[0].success_rate is None:
        return []
    single_rate = single[0].success_rate
    multi_rate = max(b.success_rate or 0.0 for b in multi)
    multi_n = sum(b.reviewed_decisions for b in multi)
    if multi_rate - single_rate > DIVERSITY_GAP + _EPS:
        return [
            Advice(
                "diversity_benefit",
                "info",
                f"Multi-type reasoning ({_pct(multi_rate)} success, n={multi_n}) outperforms "
                f"single-type ({_pct(single_rate)}). Parallel bundles work — use two or more "
                "independent reason types.",
            )
        ]
    if single_rate - multi_rate > DIVERSITY_GAP + _EPS:
        return [
            Advice(
                "diversity_no_benefit",
                "info",
                f"Single-type reasoning ({_pct(single_rate)} success) currently outperforms "
                f"multi-type ({_pct(multi_rate)}). Quality of reasons may matter more than "
                "quantity here.",
            )
        ]
    return []
