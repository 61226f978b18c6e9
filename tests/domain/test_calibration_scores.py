"""Calibration and drift from the catalogue's columns (`calibrate_scores`, `check_drift_scores`)
give `calibrate` / `check_drift`'s results over a scan (the reference), on random data and filters:
every figure to the bit, except the confidences' standard deviation (numpy's, within 1e-12)."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import pytest

from cstp.adapters.memory_store import MemoryStore
from cstp.domain.calibration import Period, calibrate, calibrate_scores
from cstp.domain.catalogue import Catalogue
from cstp.domain.drift import check_drift, check_drift_scores, drift_filter
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Review
from tests.domain.test_catalogue import NOW, random_decision, random_filter

OUTCOMES = ("success", "partial", "failure", "abandoned")


def _store(seed: int, n: int) -> tuple[MemoryStore, Catalogue]:
    rng = random.Random(seed)
    store = MemoryStore("test")
    decisions = []
    for i in range(n):
        d = random_decision(rng, i)
        d = dataclasses.replace(d, confidence=rng.choice((0.05, 0.3, 0.5, 0.55, 0.7, 0.75, 0.9, 0.95, 1.0)))
        if rng.random() < 0.5:
            d = d.with_review(Review(outcome=rng.choice(OUTCOMES), reviewed_at=d.date, reviewed_by="r"))
        decisions.append((d, None))
    store.save(decisions)
    catalogue = Catalogue(store)
    catalogue.load()
    return store, catalogue


def _same(a: object, b: object) -> None:
    a_stats, b_stats = getattr(a, "confidence_stats"), getattr(b, "confidence_stats")  # noqa: B009
    if a_stats is None or b_stats is None:
        assert a_stats is b_stats is None
    else:
        assert b_stats.std_dev == pytest.approx(a_stats.std_dev, abs=1e-12)
        assert dataclasses.replace(b_stats, std_dev=0.0) == dataclasses.replace(a_stats, std_dev=0.0)
    assert dataclasses.replace(b, confidence_stats=None) == dataclasses.replace(a, confidence_stats=None)  # type: ignore[type-var]


@pytest.mark.parametrize("seed", range(6))
def test_calibration_from_columns_equals_the_scan(seed: int) -> None:
    store, catalogue = _store(seed, 400)
    rng = random.Random(1000 + seed)
    with_buckets = 0
    for _ in range(40):
        flt = random_filter(rng)
        period = Period(flt.date_after, flt.date_before)
        min_decisions = rng.choice((1, 3, 5, 20))
        reference = calibrate(store.scan(flt), period=period, now=NOW, min_decisions=min_decisions)
        scores = catalogue.scores(flt)
        assert scores is not None
        _same(reference, calibrate_scores(scores, period=period, now=NOW, min_decisions=min_decisions))
        with_buckets += bool(reference.buckets) and reference.overall is not None
    assert with_buckets  # not only empty selections


@pytest.mark.parametrize("seed", range(6))
def test_drift_from_columns_equals_the_scan(seed: int) -> None:
    store, catalogue = _store(seed, 600)
    rng = random.Random(2000 + seed)
    scored = 0
    for _ in range(20):
        base = DecisionFilter(category=rng.choice((None, "architecture", "security")))
        now = NOW - timedelta(days=rng.choice((0, 2, 10)))
        flt = drift_filter(base, now)
        args = {"threshold_brier": rng.choice((0.0, 0.2)), "threshold_accuracy": rng.choice((0.0, 0.15))}
        args |= {"category": base.category, "min_decisions": rng.choice((1, 5, 30)), "now": now}
        reference = check_drift(store.scan(flt), **args)
        scores = catalogue.scores(dataclasses.replace(flt, has_outcome=None))
        assert scores is not None
        assert check_drift_scores(scores, **args) == reference
        scored += reference.recent is not None
    assert scored  # not only "insufficient data" reports


def test_scores_follow_a_review() -> None:
    store, catalogue = _store(7, 50)
    pending = next(d for d in store.scan(DecisionFilter()) if d.outcome is None)
    reviewed_one = pending.with_review(Review(outcome="partial", reviewed_at=NOW, reviewed_by="r"))
    store.save([(reviewed_one, None)])
    catalogue.written([reviewed_one])  # as the write path reports it
    scores = catalogue.scores(DecisionFilter())
    assert scores is not None
    reviewed = int((scores.score == scores.score).sum())  # NaN != NaN: the unreviewed ones
    assert reviewed == sum(1 for d in store.scan(DecisionFilter()) if d.outcome is not None)
