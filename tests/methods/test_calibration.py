"""getCalibration over JSON-RPC: Brier score, buckets, filters and the insufficient-data path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cstp.domain.records import Decision, Review
from tests.conftest import rpc

NOW = datetime.now(UTC)


@pytest.fixture
def reviewed(client: Any) -> Any:
    """Six reviewed decisions for project alpha (overconfident), three for beta (perfect)."""
    c = client.app.state.adapters
    items = []
    plan = [("alpha", 0.9, "failure")] * 3 + [("alpha", 0.9, "success")] * 3 + [("beta", 1.0, "success")] * 3
    for n, (project, conf, outcome) in enumerate(plan):
        d = Decision(
            id=f"c{n:07d}",
            decision=f"decision {n}",
            category="process",
            confidence=conf,
            stakes="medium",
            date=NOW - timedelta(days=n),
            project=project,
            recorded_by="tester",
        )
        d = d.with_review(Review(outcome, NOW, "tester"))
        items.append((d, None))
    c.store.save(items)
    return client


def test_brier_accuracy_and_interpretation(reviewed: Any) -> None:
    result = rpc(reviewed, "cstp.getCalibration", {"filters": {"project": "alpha"}})["result"]
    overall = result["overall"]
    assert overall["brierScore"] == pytest.approx((3 * 0.81 + 3 * 0.01) / 6, abs=1e-4)
    assert overall["accuracy"] == 0.5 and overall["calibrationGap"] == pytest.approx(-0.4)
    assert overall["interpretation"] == "overconfident"
    assert overall["brier_score"] == overall["brierScore"]  # scripts/cstp.py reads snake_case
    assert overall["reviewedDecisions"] == overall["totalDecisions"] == 6
    assert result["byConfidenceBucket"][0]["bucket"] == "0.9-1.0"
    assert result["recommendations"][0]["type"] == "overconfidence"


def test_top_level_project_narrows_like_filters(reviewed: Any) -> None:
    result = rpc(reviewed, "cstp.getCalibration", {"project": "beta", "filters": {"minDecisions": 3}})[
        "result"
    ]
    assert result["overall"]["accuracy"] == 1.0 and result["overall"]["totalDecisions"] == 3


def test_insufficient_data_gives_a_zero_overall_and_a_recommendation(reviewed: Any) -> None:
    # Deliberately not the reference's `null`, which crashes its dashboard (docs/PROTOCOL.md).
    result = rpc(reviewed, "cstp.getCalibration", {"project": "beta"})["result"]
    overall = result["overall"]
    assert overall["interpretation"] == "insufficient_data"
    assert overall["brierScore"] == overall["accuracy"] == overall["calibrationGap"] == 0.0
    assert overall["totalDecisions"] == overall["reviewedDecisions"] == 3  # the true counts
    # Both casings, as for a full overall: the dashboard reads camelCase, scripts/cstp.py snake_case.
    assert overall["brier_score"] == overall["calibration_gap"] == 0.0
    assert overall["total_decisions"] == overall["reviewed_decisions"] == 3
    assert result["recommendations"][0]["type"] == "insufficient_data"
    assert "queryTime" in result


def test_insufficient_data_with_nothing_matching_counts_zero_and_keeps_the_window(reviewed: Any) -> None:
    result = rpc(reviewed, "cstp.getCalibration", {"project": "nobody", "window": "30d"})["result"]
    overall = result["overall"]
    assert overall["interpretation"] == "insufficient_data" and overall["window"] == "30d"
    assert overall["totalDecisions"] == overall["reviewedDecisions"] == 0
    assert "periodStart" in overall and "periodEnd" in overall


def test_window_limits_the_period(reviewed: Any) -> None:
    result = rpc(reviewed, "cstp.getCalibration", {"window": "30d"})["result"]
    assert result["overall"]["window"] == "30d" and result["overall"]["totalDecisions"] == 9


def test_bad_window_is_invalid_params(reviewed: Any) -> None:
    error = rpc(reviewed, "cstp.getCalibration", {"window": "1y"})["error"]
    assert error["code"] == -32602 and "window" in error["message"]
