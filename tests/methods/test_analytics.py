"""checkDrift and attributeOutcomes over JSON-RPC: windows, thresholds and floors at their
boundaries, severities, rounding, recommendations, and attribution writes (or, dry, does not).

Seeded decisions are dated relative to NOW, read before the server's clock: a decision dated
`NOW - 30 days` is therefore a little more than 30 days old when the server looks at it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cstp.domain.records import Decision, Review
from tests.conftest import rpc

NOW = datetime.now(UTC)
_ids = itertools.count()

Seed = Callable[..., list[str]]


@pytest.fixture
def seed(client: Any) -> Seed:
    """`seed(days_ago, confidences, outcomes, **fields)`: one decision per confidence/outcome pair
    (outcome None = pending), dated `days_ago` days before NOW; returns their ids."""

    def make(
        days_ago: float, confidences: Sequence[float], outcomes: Sequence[str | None], **kw: Any
    ) -> list[str]:
        kw.setdefault("category", "process")
        items = []
        for conf, outcome in zip(confidences, outcomes, strict=True):
            d = Decision(
                id=f"a{next(_ids):07d}",
                decision="use the thing",
                confidence=conf,
                date=NOW - timedelta(days=days_ago),
                recorded_by="tester",
                **kw,
            )
            if outcome is not None:
                d = d.with_review(Review(outcome, NOW, "tester"))
            items.append((d, None))
        client.app.state.adapters.store.save(items)
        return [d.id for d, _ in items]

    return make


def drift(client: Any, **params: Any) -> Any:
    reply = rpc(client, "cstp.checkDrift", params)
    assert "result" in reply, reply
    return reply["result"]


def successes(n: int) -> list[str]:
    return ["success"] * n


# --- checkDrift: windows and minimums -------------------------------------------------------------


def test_too_few_recent_decisions_gives_null_windows_and_one_insufficient_data(
    client: Any, seed: Seed
) -> None:
    seed(5, [0.9] * 4, successes(4))
    seed(60, [0.9] * 5, successes(5))
    result = drift(client)
    assert result["driftDetected"] is False and result["alerts"] == []
    assert result["recent"] is None and result["historical"] is None
    [rec] = result["recommendations"]
    assert rec["type"] == "insufficient_data" and "recent" in rec["message"] and "found 4" in rec["message"]


def test_too_few_historical_decisions_gives_insufficient_data(client: Any, seed: Seed) -> None:
    seed(5, [0.9] * 5, successes(5))
    seed(60, [0.9] * 4, successes(4))
    [rec] = drift(client)["recommendations"]
    assert rec["type"] == "insufficient_data" and "historical" in rec["message"]
    assert drift(client, minDecisions=4)["historical"]["decisions"] == 4


def test_windows_split_by_decision_date_at_30_and_120_days(client: Any, seed: Seed) -> None:
    seed(0.5, [0.9] * 2, successes(2))
    seed(29.9, [0.9] * 3, successes(3))  # recent
    seed(30, [0.9] * 2, successes(2))  # just past 30 days: historical only
    seed(119.9, [0.9] * 3, successes(3))  # historical
    seed(120.1, [0.9] * 4, successes(4))  # too old for either window
    seed(10, [0.9] * 4, [None] * 4)  # pending: never counted
    result = drift(client)
    assert result["recent"] == {"window": "30d", "brierScore": 0.01, "accuracy": 1.0, "decisions": 5}
    assert result["historical"]["window"] == "90d+" and result["historical"]["decisions"] == 5
    assert result["driftDetected"] is False and result["alerts"] == [] and result["recommendations"] == []


def test_category_and_project_narrow_both_windows(client: Any, seed: Seed) -> None:
    seed(5, [0.9] * 5, successes(5), category="security", project="p")
    seed(60, [0.9] * 5, successes(5), category="security", project="p")
    seed(5, [0.9] * 5, successes(5), category="tooling", project="q")
    assert drift(client, category="security")["recent"]["decisions"] == 5
    assert drift(client, project="q")["recent"] is None
    assert drift(client, project="p", category="tooling")["recent"] is None


# --- checkDrift: Brier ---------------------------------------------------------------------------


def test_brier_alert_at_floor_with_rounded_change_and_recalibrate(client: Any, seed: Seed) -> None:
    seed(60, [0.7] * 5, successes(5))  # Brier 0.09
    seed(5, [0.5, 0.7, 0.7, 0.6, 0.9], successes(5))  # Brier 0.12: +0.03 (the floor), +33.3 %
    result = drift(client)
    assert result["driftDetected"] is True
    [alert] = result["alerts"]
    assert alert == {
        "type": "brier_degradation",
        "category": None,
        "recentValue": 0.12,
        "historicalValue": 0.09,
        "changePct": 33.3,
        "severity": "warning",
        "message": "Brier score degraded 33% (0.09 → 0.12)",
    }
    assert result["recommendations"] == [
        {
            "type": "recalibrate",
            "message": "Consider adjusting confidence estimates - you may be overconfident recently",
            "severity": "info",
        }
    ]


def test_brier_rise_below_the_floor_is_no_drift_however_large_relatively(client: Any, seed: Seed) -> None:
    seed(60, [0.9] * 5, successes(5))  # 0.01
    seed(5, [0.81] * 5, successes(5))  # 0.0361: +261 %, but only +0.0261
    assert drift(client)["alerts"] == []


def test_brier_relative_threshold_must_be_exceeded(client: Any, seed: Seed) -> None:
    seed(60, [0.5] * 5, successes(5))  # 0.25
    seed(5, [0.45] * 5, successes(5))  # 0.3025: +21 %
    assert drift(client)["alerts"][0]["changePct"] == 21.0
    assert drift(client, thresholdBrier=0.21)["alerts"] == []
    assert drift(client, thresholdBrier=0.2099)["driftDetected"] is True


@pytest.mark.parametrize(("low", "severity"), [(2, "warning"), (3, "error")])
def test_brier_severity_is_error_past_fifty_percent(client: Any, seed: Seed, low: int, severity: str) -> None:
    seed(60, [0.6] * 5, successes(5))  # 0.16
    seed(5, [0.4] * low + [0.6] * (5 - low), successes(5))  # 0.24 (+50 %) or 0.28 (+75 %)
    [alert] = drift(client)["alerts"]
    assert alert["severity"] == severity and alert["changePct"] == (50.0 if low == 2 else 75.0)


# --- checkDrift: accuracy ------------------------------------------------------------------------


def test_accuracy_drop_is_negative_pct_with_review_process(client: Any, seed: Seed) -> None:
    seed(60, [0.9] * 5, successes(5), category="security")
    seed(5, [0.9] * 5, successes(4) + ["failure"], category="security")
    result = drift(client, category="security", thresholdBrier=100)
    [alert] = result["alerts"]
    assert alert["type"] == "accuracy_drop" and alert["category"] == "security"
    assert alert["recentValue"] == 0.8 and alert["historicalValue"] == 1.0
    assert alert["changePct"] == -20.0 and alert["severity"] == "warning"
    assert alert["message"] == "Security decisions: Accuracy dropped 20% (100% → 80%)"
    assert [r["type"] for r in result["recommendations"]] == ["review_process"]
    assert drift(client, category="security", thresholdBrier=100, thresholdAccuracy=0.2)["alerts"] == []


def test_both_alerts_give_one_recommendation_each(client: Any, seed: Seed) -> None:
    seed(60, [0.9] * 5, successes(5))
    seed(5, [0.9] * 5, successes(3) + ["failure"] * 2)
    result = drift(client)
    assert [a["type"] for a in result["alerts"]] == ["brier_degradation", "accuracy_drop"]
    assert [r["type"] for r in result["recommendations"]] == ["recalibrate", "review_process"]
    assert all(a["severity"] == "error" for a in result["alerts"])  # Brier +1500 %, accuracy −40 %


def test_accuracy_severity_is_warning_at_exactly_25_percent(client: Any, seed: Seed) -> None:
    seed(60, [0.9] * 4, successes(4))
    seed(5, [0.9] * 4, successes(3) + ["abandoned"])  # abandoned scores 0: accuracy 0.75
    [alert] = drift(client, minDecisions=4, thresholdBrier=100)["alerts"]
    assert alert["changePct"] == -25.0 and alert["severity"] == "warning"


def test_accuracy_drop_needs_the_absolute_floor(client: Any, seed: Seed) -> None:
    seed(60, [0.1] * 10, ["partial"] * 1 + ["failure"] * 9)  # accuracy 0.05
    seed(5, [0.1] * 20, ["partial"] * 1 + ["failure"] * 19)  # 0.025: −50 %, but only −0.025
    assert drift(client, thresholdBrier=100)["alerts"] == []


def test_accuracy_drop_at_the_floor_alerts(client: Any, seed: Seed) -> None:
    seed(60, [0.1] * 10, ["partial"] * 1 + ["failure"] * 9)  # 0.05
    seed(5, [0.1] * 10, ["failure"] * 10)  # 0: −0.05 (the floor), −100 %
    [alert] = drift(client, thresholdBrier=100)["alerts"]
    assert alert["type"] == "accuracy_drop" and alert["changePct"] == -100.0 and alert["severity"] == "error"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"thresholdBrier": "x"}, "thresholdBrier"),
        ({"thresholdAccuracy": -0.1}, "thresholdAccuracy"),
        ({"minDecisions": "many"}, "minDecisions"),
        ({"minDecisions": True}, "minDecisions"),
        ({"category": "astrology"}, "category"),
    ],
)
def test_bad_drift_params_are_invalid_params_naming_the_field(client: Any, params: Any, field: str) -> None:
    error = rpc(client, "cstp.checkDrift", params)["error"]
    assert error["code"] == -32602 and field in error["message"]


# --- attributeOutcomes ---------------------------------------------------------------------------


def attribute(client: Any, **params: Any) -> Any:
    reply = rpc(client, "cstp.attributeOutcomes", params)
    assert "result" in reply, reply
    return reply["result"]


@pytest.fixture
def prs(seed: Seed) -> dict[str, str]:
    """Pending decisions of project p: stable PRs, a young PR, one without a PR, plus others."""
    ids = {
        "old": seed(40, [0.8], [None], project="p", pr=7)[0],
        "edge": seed(14, [0.8], [None], project="p", pr=8)[0],  # just past 14 days
        "young": seed(13.9, [0.8], [None], project="p", pr=9)[0],
        "no_pr": seed(40, [0.8], [None], project="p")[0],
    }
    seed(40, [0.8], ["failure"], project="p", pr=10)  # already reviewed: not considered
    seed(40, [0.8], [None], project="other", pr=11)
    return ids


def test_dry_run_reports_without_writing(client: Any, prs: dict[str, str]) -> None:
    result = attribute(client, project="p", dryRun=True)
    assert result["processed"] == 4 and result["attributed"] == {"stable": 2, "skipped": 2}
    by_id = {d["id"]: d for d in result["decisions"]}
    assert set(by_id) == {prs["old"], prs["edge"]}
    assert by_id[prs["old"]] == {
        "id": prs["old"],
        "outcome": "success",
        "reason": "PR #7 stable for 14 days",
        "path": f"cstp://decisions/{prs['old']}",
        "updated": False,
    }
    assert "queryTime" in result
    store = client.app.state.adapters.store
    assert all(store.get(i).status == "pending" for i in prs.values())


def test_attribution_reviews_through_the_service(client: Any, prs: dict[str, str]) -> None:
    result = attribute(client, project="p")
    assert all(d["updated"] is True for d in result["decisions"]) and len(result["decisions"]) == 2
    d = client.app.state.adapters.store.get(prs["old"])
    assert d.status == "reviewed" and d.outcome == "success" and d.rev == 2
    assert d.review.reviewed_by == "tester" and d.review.review_notes == "PR #7 stable for 14 days"
    assert client.app.state.adapters.store.get(prs["young"]).status == "pending"
    raw = rpc(client, "cstp.getDecision", {"id": prs["edge"]})["result"]["decision"]
    assert raw["status"] == "reviewed" and raw["outcome"] == "success"
    again = attribute(client, project="p")  # the attributed ones are no longer pending
    assert again["processed"] == 2 and again["attributed"] == {"stable": 0, "skipped": 2}


def test_stability_days_and_since_choose_the_decisions(client: Any, prs: dict[str, str]) -> None:
    assert attribute(client, project="p", stabilityDays=13, dryRun=True)["attributed"]["stable"] == 3
    assert attribute(client, project="p", stabilityDays=41, dryRun=True)["attributed"]["stable"] == 0
    since = (NOW - timedelta(days=14)).date().isoformat()  # the edge decision's day is included
    result = attribute(client, project="p", since=since, dryRun=True)
    assert result["processed"] == 2 and [d["id"] for d in result["decisions"]] == [prs["edge"]]


@pytest.mark.parametrize("params", [{}, {"project": ""}, {"project": "  "}, {"project": None}])
def test_project_is_required(client: Any, params: Any) -> None:
    error = rpc(client, "cstp.attributeOutcomes", params)["error"]
    assert error["code"] == -32602 and error["message"] == "project is required"
    assert error["data"] == {"field": "project"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"stabilityDays": "x"}, "stabilityDays"),
        ({"stabilityDays": -1}, "stabilityDays"),
        ({"stabilityDays": 10**9}, "stabilityDays"),  # no date that far back: -32602, never a 500
        ({"dryRun": "maybe"}, "dryRun"),
        ({"since": "last week"}, "since"),
    ],
)
def test_bad_attribution_params_name_the_field(client: Any, params: Any, field: str) -> None:
    error = rpc(client, "cstp.attributeOutcomes", {"project": "p", **params})["error"]
    assert error["code"] == -32602 and field in error["message"]
