"""getStats over JSON-RPC (on test_browse's seed), and the dashboard's keys on queryDecisions rows
and getDecision records. Expectations are counted in plain Python from `SEED`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import rpc
from tests.methods.test_browse import BY_ID, DAY, NOW, SEED, browsed, ids, listing, seed_client

__all__ = ["browsed"]  # the module-scoped app holding SEED, shared with test_browse


# --- getStats ------------------------------------------------------------------------------------
def stats(client: Any, **params: Any) -> dict[str, Any]:
    reply = rpc(client, "cstp.getStats", params)
    assert "result" in reply, reply
    result: dict[str, Any] = reply["result"]
    return result


def expected_stats(seed: list[dict[str, Any]]) -> dict[str, Any]:
    def count(key: Callable[[dict[str, Any]], Any]) -> dict[str, int]:
        return dict(Counter(key(s) for s in seed if key(s) is not None))

    tags = Counter(t for s in seed for t in s["tags"])
    days = Counter(s["when"].date().isoformat() for s in seed)
    top = sorted(tags.items(), key=lambda x: (-x[1], x[0]))[:20]
    spans = (("24h", timedelta(days=1)), ("7d", timedelta(days=7)), ("30d", timedelta(days=30)))
    return {
        "total": len(seed),
        "byCategory": count(lambda s: s["category"]),
        "byStakes": count(lambda s: s["stakes"]),
        "byStatus": count(lambda s: "reviewed" if s["outcome"] else "pending"),
        "byAgent": count(lambda s: s["agent"]),
        "byDay": [{"date": d, "count": days[d]} for d in sorted(days, reverse=True)][:30],
        "topTags": [{"tag": t, "count": n} for t, n in top],
        "recentActivity": {
            f"last{label}": sum(s["when"] >= NOW - span for s in seed) for label, span in spans
        },
    }


def test_stats_count_everything_by_each_dimension(browsed: Any) -> None:
    result = stats(browsed)
    assert result == expected_stats(SEED)
    assert "None" not in result["byAgent"] and None not in result["byAgent"]  # b04 has no recorder
    assert list(result["byStakes"]) == ["low", "medium", "high", "critical"]  # by severity
    assert result["topTags"][0] == {"tag": "db", "count": 3}
    assert result["recentActivity"] == {"last24h": 2 + 1, "last7d": 5, "last30d": 5}


@pytest.mark.parametrize(
    "params",
    [
        {"project": "platform"},
        {"dateFrom": DAY.isoformat(), "dateTo": DAY.isoformat()},
        {"date_from": (NOW - timedelta(days=40)).isoformat(), "project": "billing"},
    ],
)
def test_stats_honour_the_project_and_date_range(browsed: Any, params: dict[str, Any]) -> None:
    selected = [BY_ID[i] for i in ids(listing(browsed, limit=500, **params))]
    assert 0 < len(selected) < len(SEED)
    assert stats(browsed, **params) == expected_stats(selected)


def test_stats_of_nothing_are_zeros(browsed: Any) -> None:
    result = stats(browsed, project="no-such-project")
    assert result["total"] == 0 and result["byDay"] == [] and result["topTags"] == []
    assert result["byCategory"] == {} and result["recentActivity"] == {
        "last24h": 0,
        "last7d": 0,
        "last30d": 0,
    }


def test_stats_keep_30_days_and_20_tags(app_factory: Any) -> None:
    # m00..m39 one day apart; m<i> carries tags t00..t<i-1>.
    tags_of = [tuple(f"t{j:02d}" for j in range(i)) for i in range(40)]
    many = [
        dict(BY_ID["b02"], id=f"m{i:02d}", when=NOW - timedelta(days=i), tags=tags_of[i]) for i in range(40)
    ]
    with TestClient(app_factory()) as client:
        seed_client(client, many)
        result = stats(client)
    assert result["total"] == 40
    assert [d["date"] for d in result["byDay"]] == [
        (NOW - timedelta(days=i)).date().isoformat() for i in range(30)
    ]
    # t00 is on 39 decisions, t01 on 38, ...: the 20 most used, most used first.
    assert result["topTags"] == [{"tag": f"t{j:02d}", "count": 39 - j} for j in range(20)]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"dateFrom": "soon"}, "dateFrom"), ({"dateTo": 7}, "dateTo"), ({"project": ["a"]}, "project")],
)
def test_bad_stats_params_name_the_field(browsed: Any, params: dict[str, Any], field: str) -> None:
    error = rpc(browsed, "cstp.getStats", params)["error"]
    assert error["code"] == -32602 and field in error["message"], error


# --- queryDecisions rows and getDecision carry the dashboard's keys ------------------------------
def test_query_rows_carry_summary_created_at_and_project_context(browsed: Any) -> None:
    reply = rpc(browsed, "cstp.queryDecisions", {"query": "Stripe webhooks queue", "limit": 1})
    row = reply["result"]["decisions"][0]
    assert row["id"] == "b03" and row["title"] == row["summary"] == BY_ID["b03"]["decision"]
    assert datetime.fromisoformat(row["created_at"]) == BY_ID["b03"]["when"]
    assert row["project_context"]["project"] == "billing" and row["project_context"]["pr"] == 3
    assert row["recorded_by"] == "alice"
    listed = rpc(browsed, "cstp.queryDecisions", {"category": "process"})["result"]["decisions"]
    assert {r["id"] for r in listed} == {"b02", "b08"}
    assert "project_context" not in next(r for r in listed if r["id"] == "b08")


def test_get_decision_record_carries_nested_project_context(browsed: Any) -> None:
    record = rpc(browsed, "cstp.getDecision", {"id": "b03"})["result"]["decision"]
    assert record["summary"] == record["decision"] and record["project"] == "billing"
    assert record["project_context"] == {
        "project": "billing", "feature": None, "pr": 3, "file": None, "line": None, "commit": None,
    }  # fmt: skip
    assert "project_context" not in rpc(browsed, "cstp.getDecision", {"id": "b08"})["result"]["decision"]
