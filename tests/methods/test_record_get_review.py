"""recordDecision, getDecision, reviewDecision and reindex over JSON-RPC, on the full app."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cstp.domain.errors import InvalidInput
from cstp.methods.decisions import parse_review_in
from tests.conftest import rpc


def record(client: Any, **params: Any) -> dict[str, Any]:
    params.setdefault("decision", "Use PostgreSQL for the billing service")
    reply = rpc(client, "cstp.recordDecision", params)
    assert "result" in reply, reply
    result: dict[str, Any] = reply["result"]
    return result


def test_minimal_record_returns_snake_case_result_with_16_hex_id(client: Any) -> None:
    result = record(client, confidence=0.8, category="architecture")
    assert result["success"] is True
    assert re.fullmatch(r"[0-9a-f]{16}", result["id"])
    assert result["indexed"] is True
    assert set(result) >= {"success", "id", "path", "indexed", "timestamp", "quality"}
    assert 0 <= result["quality"]["score"] <= 1


def test_full_record_round_trips_through_get(client: Any) -> None:
    result = record(
        client,
        decision="Adopt feature flags for risky rollouts",
        confidence=0.7,
        category="process",
        stakes="high",
        context="Two outages from big-bang deploys",
        reasons=[
            {"type": "empirical", "text": "Outages last quarter", "strength": 0.9},
            {"text": "Industry practice"},
        ],
        tags=["deploy", "safety"],
        pattern="progressive delivery",
        kpiIndicators=["mttr"],
        mentalState="deliberate",
        reviewIn="2w",
        preDecision={"queryRun": True, "similarFound": 2},
        bridge={"structure": "flag service", "function": "limit blast radius"},
        project="acme/web",
        pr=42,
        file="deploy.py",
        line=10,
        commit="abc123",
    )
    got = rpc(client, "cstp.getDecision", {"id": result["id"]})["result"]
    assert got["found"] is True
    d = got["decision"]
    assert d["decision"] == d["summary"] == "Adopt feature flags for risky rollouts"
    assert d["stakes"] == "high" and d["confidence"] == 0.7 and d["status"] == "pending"
    assert d["reasons"][1] == {"type": "analysis", "text": "Industry practice", "strength": 0.8}
    assert d["tags"] == ["deploy", "safety"]
    assert d["project"] == "acme/web" and d["pr"] == 42 and d["commit"] == "abc123"
    assert d["mental_state"] == "deliberate" and d["kpi_indicators"] == ["mttr"]
    assert d["pre_decision"] == {"queryRun": True, "similarFound": 2}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", d["review_by"])
    assert d["recorded_by"] == "tester"


def test_nested_project_context_is_kept(client: Any) -> None:
    result = record(client, project_context={"project": "acme/api", "pr": 7})
    d = rpc(client, "cstp.getDecision", {"id": result["id"]})["result"]["decision"]
    assert d["project"] == "acme/api" and d["pr"] == 7


def test_missing_confidence_defaults_to_half_and_zero_stays_zero(client: Any) -> None:
    a = record(client)
    b = record(client, confidence=0)
    get = lambda i: rpc(client, "cstp.getDecision", {"id": i})["result"]["decision"]  # noqa: E731
    assert get(a["id"])["confidence"] == 0.5
    assert get(b["id"])["confidence"] == 0.0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "decision"),
        ({"decision": "   "}, "decision"),
        ({"decision": "x", "confidence": 1.5}, "confidence"),
        ({"decision": "x", "confidence": "high"}, "confidence"),
        ({"decision": "x", "category": "finance"}, "category"),
        ({"decision": "x", "stakes": "extreme"}, "stakes"),
        ({"decision": "x", "reasons": [{"type": "vibes", "text": "t"}]}, "reasons.0.type"),
        ({"decision": "x", "reasons": [{"type": "analysis"}]}, "reasons.0.text"),
        ({"decision": "x", "reviewIn": "soon"}, "reviewIn"),
        ({"decision": "x", "mentalState": "sleepy"}, "mentalState"),
        ({"decision": "x", "pr": "forty"}, "pr"),
        ({"decision": "x", "tags": "not-a-list"}, "tags"),
    ],
)
def test_invalid_record_is_invalid_params_naming_the_field(
    client: Any, params: dict[str, Any], field: str
) -> None:
    error = rpc(client, "cstp.recordDecision", params)["error"]
    assert error["code"] == -32602
    assert field in error["message"]
    assert rpc(client, "cstp.queryDecisions", {})["result"]["total"] == 0  # nothing written


def test_get_accepts_decision_id_and_prefix(client: Any) -> None:
    rid = record(client)["id"]
    assert rpc(client, "cstp.getDecision", {"decision_id": rid})["result"]["found"] is True
    found = rpc(client, "cstp.getDecision", {"id": rid[:5]})["result"]
    assert found["found"] is True and found["decision"]["id"] == rid


def test_get_unknown_id_is_found_false(client: Any) -> None:
    result = rpc(client, "cstp.getDecision", {"id": "deadbeef"})["result"]
    assert result["found"] is False and "decision" not in result


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "x y", None])
def test_get_rejects_missing_or_unsafe_ids(client: Any, bad: Any) -> None:
    params = {} if bad is None else {"id": bad}
    assert rpc(client, "cstp.getDecision", params)["error"]["code"] == -32602


def test_review_records_outcome_and_accepts_decision_id(client: Any) -> None:
    rid = record(client)["id"]
    reply = rpc(
        client,
        "cstp.reviewDecision",
        {
            "decision_id": rid,
            "outcome": "success",
            "actual_result": "Shipped on time",
            "lessons": "Plan migrations early",
            "affectedKpis": {"latency": -0.2},
        },
    )["result"]
    assert reply["success"] is True and reply["status"] == "reviewed" and reply["reindexed"]
    d = rpc(client, "cstp.getDecision", {"id": rid})["result"]["decision"]
    assert d["status"] == "reviewed" and d["outcome"] == "success"
    assert d["actual_result"] == "Shipped on time" and d["lessons"] == "Plan migrations early"
    assert d["reviewed_by"] == "tester" and d["affected_kpis"] == {"latency": -0.2}


def test_review_of_unknown_decision_is_an_error(client: Any) -> None:
    error = rpc(client, "cstp.reviewDecision", {"id": "deadbeef", "outcome": "success"})["error"]
    assert error["code"] == -32602 and "deadbeef" in error["message"]


def test_review_rejects_invalid_outcome(client: Any) -> None:
    rid = record(client)["id"]
    error = rpc(client, "cstp.reviewDecision", {"id": rid, "outcome": "great"})["error"]
    assert error["code"] == -32602 and "outcome" in error["message"]


def test_reindex_rebuilds_the_index_from_records(client: Any) -> None:
    for text in ("Cache sessions in Redis", "Rotate API keys monthly"):
        record(client, decision=text)
    store = client.app.state.adapters.store
    store.reset_index()
    assert rpc(client, "cstp.queryDecisions", {"query": "Redis"})["result"]["total"] == 0
    result = rpc(client, "cstp.reindex", {})["result"]
    assert result["success"] is True and result["decisionsIndexed"] == 2
    top = rpc(client, "cstp.queryDecisions", {"query": "session cache"})["result"]["decisions"]
    assert top[0]["title"] == "Cache sessions in Redis"


def test_review_in_parses_days_weeks_months() -> None:
    assert parse_review_in("3d").days == 3
    assert parse_review_in("2w").days == 14
    assert parse_review_in("1m").days == 30
    with pytest.raises(InvalidInput):
        parse_review_in("soon")
