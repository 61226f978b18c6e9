"""getReasonStats over JSON-RPC: every key `scripts/cstp.py reason-stats` reads, the counting rules
(a type once per decision, strengths per reason), each recommendation at its boundary, filters."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cstp.domain.records import Decision, Reason, Review
from tests.conftest import rpc

NOW = datetime.now(UTC)
_ids = itertools.count()

Seed = Callable[..., None]


@pytest.fixture
def add(client: Any) -> Seed:
    """`add(reasons, confidence, outcome, n=1, **fields)`: reasons as (type, strength) pairs or
    type names; outcome None = pending."""

    def make(
        reasons: Sequence[str | tuple[str, float]],
        confidence: float,
        outcome: str | None,
        n: int = 1,
        days_ago: float = 1,
        **kw: Any,
    ) -> None:
        kw.setdefault("category", "process")
        parsed = tuple(Reason(r, "why") if isinstance(r, str) else Reason(r[0], "why", r[1]) for r in reasons)
        items = []
        for _ in range(n):
            d = Decision(
                id=f"r{next(_ids):07d}",
                decision="pick one",
                confidence=confidence,
                date=NOW - timedelta(days=days_ago),
                recorded_by="tester",
                reasons=parsed,
                **kw,
            )
            if outcome is not None:
                d = d.with_review(Review(outcome, NOW, "tester"))
            items.append((d, None))
        client.app.state.adapters.store.save(items)

    return make


def stats(client: Any, **params: Any) -> Any:
    reply = rpc(client, "cstp.getReasonStats", params)
    assert "result" in reply, reply
    return reply["result"]


def kinds(result: Any) -> list[str]:
    return [r["type"] for r in result["recommendations"]]


def test_counts_rates_strengths_and_diversity(client: Any, add: Seed) -> None:
    add([("analysis", 0.6), ("analysis", 1.0)], 0.9, "success")
    add([("analysis", 0.8), ("pattern", 0.5)], 0.7, "partial")
    add(["analysis"], 0.5, "failure")
    add([("pattern", 0.9)], 0.6, None)
    add([], 0.9, "success")  # no reasons: not analysed at all
    result = stats(client)
    assert result["totalDecisions"] == 4 and result["reviewedDecisions"] == 3
    analysis, pattern = result["byReasonType"]
    assert analysis == {
        "reasonType": "analysis",
        "totalUses": 3,  # once per decision, though A has two analysis reasons
        "reviewedUses": 3,
        "successCount": 1,
        "partialCount": 1,
        "failureCount": 1,
        "successRate": 0.5,
        "avgConfidence": 0.7,
        "avgStrength": 0.8,  # per reason: (0.6 + 1.0 + 0.8 + 0.8) / 4
        "brierScore": 0.1,
    }
    assert pattern["totalUses"] == 2 and pattern["reviewedUses"] == 1 and pattern["successRate"] == 0.5
    assert pattern["avgConfidence"] == 0.65 and pattern["avgStrength"] == 0.7
    assert "brierScore" not in pattern  # 1 review < minReviewed 3
    assert result["diversity"] == {
        "avgTypesPerDecision": 1.25,
        "avgReasonsPerDecision": 1.5,
        "diversityBuckets": [
            {
                "distinctReasonTypes": 1,
                "totalDecisions": 3,
                "reviewedDecisions": 2,
                "successRate": 0.5,
                "avgConfidence": 0.7,
                "brierScore": 0.13,
            },
            {
                "distinctReasonTypes": 2,
                "totalDecisions": 1,
                "reviewedDecisions": 1,
                "successRate": 0.5,
                "avgConfidence": 0.7,
                "brierScore": 0.04,
            },
        ],
    }
    assert kinds(result) == ["low_diversity", "unused_types"]
    assert result["recommendations"][1]["message"].startswith(
        "Never-used reason types: analogy, authority, constraint, elimination, empirical, intuition."
    )
    assert "queryTime" in result


def test_unreviewed_type_rate_is_zero_and_bucket_rate_null(client: Any, add: Seed) -> None:
    add(["intuition"], 0.4, None)
    add(["intuition"], 0.8, None)
    result = stats(client)
    [row] = result["byReasonType"]
    assert row["successRate"] == 0.0 and isinstance(row["successRate"], float)  # the CLI multiplies it
    [bucket] = result["diversity"]["diversityBuckets"]
    assert bucket["successRate"] is None and "brierScore" not in bucket
    assert bucket["avgConfidence"] == 0.6  # of all members when none is reviewed


def test_min_reviewed_decides_brier_and_ranking(client: Any, add: Seed) -> None:
    add(["empirical"], 0.9, "failure", n=2)
    add(["pattern"], 0.9, "success")
    ranked = stats(client, minReviewed=2)["byReasonType"]
    assert [r["reasonType"] for r in ranked] == ["empirical", "pattern"]  # enough reviews ranks first
    assert ranked[0]["brierScore"] == 0.81 and "brierScore" not in ranked[1]
    ranked = stats(client, minReviewed=1)["byReasonType"]
    assert [r["reasonType"] for r in ranked] == ["pattern", "empirical"] and ranked[0]["brierScore"] == 0.01


def test_empty_store_has_zeros_and_only_unused_types(client: Any) -> None:
    result = stats(client)
    assert result["byReasonType"] == [] and result["totalDecisions"] == 0 == result["reviewedDecisions"]
    assert result["diversity"] == {
        "avgTypesPerDecision": 0.0,
        "avgReasonsPerDecision": 0.0,
        "diversityBuckets": [],
    }
    assert kinds(result) == ["unused_types"]


@pytest.mark.parametrize(("y_successes", "expected"), [(17, False), (16, True)])
def test_best_reason_type_needs_a_spread_over_15_points(
    client: Any, add: Seed, y_successes: int, expected: bool
) -> None:
    add(["analysis"], 0.7, "success", n=20)
    add(["pattern"], 0.7, "success", n=y_successes)
    add(["pattern"], 0.7, "partial", n=17 - y_successes)  # 17 → 0.85 (spread 0.15); 16 → 0.825
    add(["pattern"], 0.7, "failure", n=3)
    result = stats(client)
    assert ("best_reason_type" in kinds(result)) is expected
    if expected:
        [rec] = [r for r in result["recommendations"] if r["type"] == "best_reason_type"]
        assert rec["message"].startswith("'analysis' reasoning has 100% success rate (20 decisions)")


@pytest.mark.parametrize(
    ("confidence", "outcomes", "expected"),
    [
        (0.81, ["success", "failure", "failure"], True),
        (0.8, ["success", "failure", "failure"], False),  # confidence must exceed 0.8
        (0.9, ["success"] * 3 + ["failure"] * 2, False),  # 0.6 success is not below 0.6
    ],
)
def test_overconfident_type(
    client: Any, add: Seed, confidence: float, outcomes: list[str], expected: bool
) -> None:
    for outcome in outcomes:
        add(["authority"], confidence, outcome)
    assert ("overconfident_type" in kinds(stats(client))) is expected


def test_low_diversity_below_one_and_a_half_types(client: Any, add: Seed) -> None:
    add(["analysis", "pattern"], 0.7, None)
    add(["analysis"], 0.7, None)
    assert "low_diversity" not in kinds(stats(client))  # exactly 1.5
    add(["analysis"], 0.7, None)
    assert "low_diversity" in kinds(stats(client))


@pytest.mark.parametrize(
    ("single", "multi", "expected"),
    [
        (["success", "failure"], ["success", "success"], "diversity_benefit"),
        (["success", "success"], ["success", "failure"], "diversity_no_benefit"),
        (["success"] * 5 + ["failure"] * 5, ["success"] * 3 + ["failure"] * 2, None),  # 0.6 vs 0.5
        (["success", "failure"], ["success"], None),  # one reviewed multi-type decision: no comparison
    ],
)
def test_diversity_comparison(
    client: Any, add: Seed, single: list[str], multi: list[str], expected: str | None
) -> None:
    for outcome in single:
        add(["analysis"], 0.7, outcome)
    for outcome in multi:
        add(["analysis", "empirical"], 0.7, outcome)
    found = {k for k in kinds(stats(client)) if k.startswith("diversity")}
    assert found == ({expected} if expected else set())


def test_filters_narrow_by_field_and_whole_days(client: Any, add: Seed) -> None:
    add(["analysis"], 0.7, None, days_ago=10, project="p", stakes="high")
    add(["analysis"], 0.7, None, days_ago=5, project="p", category="security")
    add(["analysis"], 0.7, None, days_ago=1, project="q")
    day = (NOW - timedelta(days=5)).date().isoformat()
    total = lambda **f: stats(client, filters=f)["totalDecisions"]  # noqa: E731
    assert total() == 3 and total(project="p") == 2 and total(category="security") == 1
    assert total(stakes="high") == 1 and total(stakes="low") == 0
    assert total(since=day) == 2 and total(until=day) == 2 and total(since=day, until=day) == 1
    assert total(until=f"{day}T00:00:00Z") == 2  # the whole day, as the reference's date compare


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"minReviewed": "x"}, "minReviewed"),
        ({"filters": {"since": "yesterday"}}, "filters.since"),
        ({"filters": {"stakes": "extreme"}}, "filters.stakes"),
        ({"filters": "all"}, "filters"),
    ],
)
def test_bad_params_name_the_field(client: Any, params: Any, field: str) -> None:
    error = rpc(client, "cstp.getReasonStats", params)["error"]
    assert error["code"] == -32602 and field in error["message"]
