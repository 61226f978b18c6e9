"""updateDecision over JSON-RPC: what it changes, what it refuses, and what searches see after it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import rpc


def record(client: Any, **params: Any) -> str:
    params.setdefault("decision", "Use PostgreSQL for the billing service")
    params.setdefault("confidence", 0.6)
    reply = rpc(client, "cstp.recordDecision", params)
    assert "result" in reply, reply
    rid: str = reply["result"]["id"]
    return rid


def get(client: Any, rid: str) -> dict[str, Any]:
    decision: dict[str, Any] = rpc(client, "cstp.getDecision", {"id": rid})["result"]["decision"]
    return decision


def test_update_applies_every_allowed_field_and_a_second_read_sees_them(client: Any) -> None:
    rid = record(client, category="architecture", context="old context", tags=["db"], project="acme")
    before = get(client, rid)
    updates = {
        "decision": "  Use CockroachDB for the billing service  ",
        "confidence": 0.85,
        "tags": ["db", " geo ", "db"],
        "pattern": "distributed SQL",
        "context": "Multi-region launch",
        "reasons": [{"type": "empirical", "text": "Latency tests"}, {"text": "Team knows Postgres"}],
        "bridge": {"structure": "SQL cluster", "function": "survive a region outage"},
    }
    result = rpc(client, "cstp.updateDecision", {"id": rid, "updates": updates})["result"]
    assert result == {
        "success": True,
        "id": rid,
        "updated_fields": ["decision", "confidence", "tags", "pattern", "context", "reasons", "bridge"],
        "indexed": True,
    }
    d = get(client, rid)
    assert d["decision"] == d["summary"] == "Use CockroachDB for the billing service"
    assert d["confidence"] == 0.85 and d["tags"] == ["db", "geo"] and d["pattern"] == "distributed SQL"
    assert d["context"] == "Multi-region launch"
    assert d["reasons"] == [
        {"type": "empirical", "text": "Latency tests", "strength": 0.8},
        {"type": "analysis", "text": "Team knows Postgres", "strength": 0.8},
    ]
    assert d["bridge"] == updates["bridge"]
    assert d["rev"] == before["rev"] + 1 and d["updated_at"] >= before["date"]
    # What the update does not name is kept: id, date, recorder, category, project.
    for key in ("id", "date", "recorded_by", "category", "project", "status", "stakes"):
        assert d[key] == before[key]


def test_update_accepts_the_id_aliases_and_a_unique_prefix(client: Any) -> None:
    rid = record(client)
    for params in ({"decision_id": rid}, {"decisionId": rid}, {"id": rid[:5]}):
        result = rpc(client, "cstp.updateDecision", {**params, "updates": {"confidence": 0.7}})["result"]
        assert result["success"] is True and result["id"] == rid  # the full id, also for a prefix
    assert get(client, rid)["rev"] == 4


def test_semantic_and_keyword_search_find_the_new_text_not_the_old(client: Any) -> None:
    rid = record(client, decision="Cache sessions in Redis")
    record(client, decision="Rotate API keys monthly")
    new_text = "Store sessions in signed cookies"
    rpc(client, "cstp.updateDecision", {"id": rid, "updates": {"decision": new_text}})

    semantic = rpc(client, "cstp.queryDecisions", {"query": new_text, "retrievalMode": "semantic"})
    assert semantic["result"]["decisions"][0]["id"] == rid
    assert semantic["result"]["decisions"][0]["title"] == new_text
    keyword = rpc(client, "cstp.queryDecisions", {"query": "cookies", "retrievalMode": "keyword"})
    assert [d["id"] for d in keyword["result"]["decisions"]] == [rid]
    stale = rpc(client, "cstp.queryDecisions", {"query": "Redis", "retrievalMode": "keyword"})
    assert stale["result"]["decisions"] == []


def test_keys_outside_the_allow_list_are_ignored_and_reported(client: Any) -> None:
    rid = record(client, category="process")
    params = {"id": rid, "updates": {"pattern": "p", "category": "security", "status": "reviewed"}}
    result = rpc(client, "cstp.updateDecision", params)["result"]
    assert result["updated_fields"] == ["pattern"]
    assert result["ignored_fields"] == ["category", "status"]
    d = get(client, rid)
    assert d["pattern"] == "p" and d["category"] == "process" and d["status"] == "pending"


def test_null_clears_context_pattern_and_bridge(client: Any) -> None:
    rid = record(client, context="c", pattern="p", bridge={"structure": "s", "function": "f"})
    updates = {"context": None, "pattern": None, "bridge": None}
    result = rpc(client, "cstp.updateDecision", {"id": rid, "updates": updates})["result"]
    assert result["updated_fields"] == ["pattern", "context", "bridge"]
    d = get(client, rid)
    assert "context" not in d and "pattern" not in d and "bridge" not in d


@pytest.mark.parametrize(
    ("updates", "field"),
    [
        ({"decision": "   "}, "updates.decision"),
        ({"decision": None}, "updates.decision"),
        ({"decision": "x" * 20_001}, "updates.decision"),
        ({"confidence": 1.5}, "updates.confidence"),
        ({"confidence": "high"}, "updates.confidence"),
        ({"confidence": True}, "updates.confidence"),
        ({"confidence": None}, "updates.confidence"),
        ({"tags": "not-a-list"}, "updates.tags"),
        ({"tags": None}, "updates.tags"),
        ({"reasons": [{"type": "vibes", "text": "t"}]}, "updates.reasons.0.type"),
        ({"reasons": [{"type": "analysis"}]}, "updates.reasons.0.text"),
        ({"pattern": 5}, "updates.pattern"),
        ({"context": ["a"]}, "updates.context"),
        ({"bridge": "structure"}, "updates.bridge"),
        ({"decision": "fine", "confidence": 2}, "updates.confidence"),  # one bad value refuses all
    ],
)
def test_invalid_values_are_refused_naming_the_field_and_nothing_changes(
    client: Any, updates: dict[str, Any], field: str
) -> None:
    rid = record(client)
    before = get(client, rid)
    error = rpc(client, "cstp.updateDecision", {"id": rid, "updates": updates})["error"]
    assert error["code"] == -32602
    assert field in [e["field"] for e in error["data"]["errors"]]
    assert get(client, rid) == before


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"updates": {"confidence": 0.5}}, "id"),
        ({"id": "../x", "updates": {"confidence": 0.5}}, "id"),
        ({"id": "ab"}, "updates"),
        ({"id": "ab", "updates": {}}, "updates"),
        ({"id": "ab", "updates": {"category": "security"}}, "updates"),
        ({"id": "ab", "updates": ["decision"]}, "updates"),
    ],
)
def test_missing_or_empty_params_are_invalid_params(client: Any, params: dict[str, Any], field: str) -> None:
    error = rpc(client, "cstp.updateDecision", params)["error"]
    assert error["code"] == -32602
    assert field in [e["field"] for e in error["data"]["errors"]]


def test_an_update_with_only_unknown_keys_names_them(client: Any) -> None:
    error = rpc(client, "cstp.updateDecision", {"id": "ab", "updates": {"category": "x"}})["error"]
    assert "category" in error["message"] and "allowed: decision" in error["message"]


def test_unknown_decision_is_success_false_in_the_result(client: Any) -> None:
    result = rpc(client, "cstp.updateDecision", {"id": "deadbeef", "updates": {"confidence": 0.5}})["result"]
    assert result == {"success": False, "id": "deadbeef", "error": "Decision not found: deadbeef"}


def test_update_keeps_the_review(client: Any) -> None:
    rid = record(client)
    rpc(client, "cstp.reviewDecision", {"id": rid, "outcome": "success", "lessons": "worked"})
    rpc(client, "cstp.updateDecision", {"id": rid, "updates": {"tags": ["later"]}})
    d = get(client, rid)
    assert d["status"] == "reviewed" and d["outcome"] == "success" and d["lessons"] == "worked"
    assert d["tags"] == ["later"] and d["rev"] == 3
