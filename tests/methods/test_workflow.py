"""preAction, getSessionContext and ready over JSON-RPC: shapes and rules of CSTP-CLIENTS.md §1.6."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cstp.adapters.memory_store import MemoryStore
from cstp.app import Adapters, create_app
from cstp.domain import codec
from cstp.domain.errors import EmbedderUnavailable
from cstp.domain.ports import Purpose
from cstp.domain.records import Decision, Review
from tests.conftest import rpc
from tests.fakes import HashEmbedder

DAY = timedelta(days=1)


def result(client: Any, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply = rpc(client, method, params)
    assert "result" in reply, reply
    out: dict[str, Any] = reply["result"]
    return out


def old(id: str, age: timedelta, *, outcome: str | None = None, **fields: Any) -> Decision:
    now = datetime.now(UTC)
    values: dict[str, Any] = {"decision": f"decision {id}", "confidence": 0.8, "category": "process"}
    d = Decision(id=id, date=now - age, recorded_by="tester", **values | fields)
    return d.with_review(Review(outcome, now, "tester")) if outcome else d


def store_decisions(client: Any, *decisions: Decision) -> None:
    client.app.state.adapters.store.save([(d, None) for d in decisions])


@pytest.fixture
def track_record(client: Any) -> Any:
    """Three reviewed architecture decisions sharing a pattern, and a pending one."""
    for text, outcome in [
        ("Cache rendered pages at the edge", "success"),
        ("Cache API responses for a minute", "success"),
        ("Cache user sessions in memory", "failure"),
    ]:
        r = result(
            client,
            "cstp.recordDecision",
            {"decision": text, "category": "architecture", "confidence": 0.8, "pattern": "cache hot reads"},
        )
        result(client, "cstp.reviewDecision", {"id": r["id"], "outcome": outcome})
    result(client, "cstp.recordDecision", {"decision": "Shard the orders table", "category": "architecture"})
    return client


# --- preAction -----------------------------------------------------------------------------------
def test_pre_action_returns_every_part_and_records_when_allowed(track_record: Any) -> None:
    r = result(
        track_record,
        "cstp.preAction",
        {
            "action": {
                "description": "Cache search results at the edge",
                "category": "architecture",
                "confidence": 0.75,
            },
            "reasons": [{"type": "analysis", "text": "reads dominate"}],
            "tags": ["perf"],
            "pattern": "cache hot reads",
        },
    )
    assert r["allowed"] is True and "blockReasons" not in r and "degraded" not in r
    assert set(r) == {
        "allowed",
        "decisionId",
        "relevantDecisions",
        "guardrailResults",
        "calibrationContext",
        "patternsSummary",
        "queryTimeMs",
    }
    assert 1 <= len(r["relevantDecisions"]) <= 5
    row = r["relevantDecisions"][0]
    assert {
        "id",
        "title",
        "category",
        "confidence",
        "stakes",
        "status",
        "date",
        "distance",
        "compactionLevel",
    } <= set(row)
    assert all(d["category"] == "architecture" for d in r["relevantDecisions"])
    cal = r["calibrationContext"]
    assert cal["reviewedDecisions"] == 3 and cal["accuracy"] == pytest.approx(2 / 3, abs=1e-3)
    assert {"brierScore", "calibrationGap", "interpretation"} <= set(cal)
    [pattern] = r["patternsSummary"]
    assert (pattern["pattern"], pattern["count"], len(pattern["exampleIds"])) == ("cache hot reads", 3, 3)
    stored = codec.to_record(track_record.app.state.services.decisions.get(r["decisionId"]))
    assert (stored["decision"], stored["confidence"], stored["tags"], stored["pattern"]) == (
        "Cache search results at the edge",
        0.75,
        ["perf"],
        "cache hot reads",
    )
    assert [i["source"] for i in stored["deliberation"]["inputs"]] == [
        "cstp:queryDecisions",
        "cstp:checkGuardrails",
    ]
    assert stored["related_to"] and stored["recorded_by"] == "tester"


def test_pre_action_blocked_by_a_guardrail_records_nothing_and_says_why(track_record: Any) -> None:
    before = track_record.app.state.adapters.store.count()
    r = result(
        track_record,
        "cstp.preAction",
        {"action": {"description": "Drop the audit log", "stakes": "high", "confidence": 0.3}},
    )
    assert r["allowed"] is False and r["decisionId"] is None
    assert r["blockReasons"] and r["guardrailResults"][0]["guardrailId"] == "no-high-stakes-low-confidence"
    assert track_record.app.state.adapters.store.count() == before
    # the query and the check are kept for the agent's next record
    later = result(track_record, "cstp.recordDecision", {"decision": "Archive the audit log instead"})
    assert later["deliberation_inputs_count"] == 2


def test_pre_action_warnings_are_results_but_not_block_reasons(client: Any) -> None:
    r = result(
        client,
        "cstp.preAction",
        {
            "action": {"description": "Rotate keys", "stakes": "critical", "confidence": 0.6},
            "options": {"autoRecord": False},
        },
    )
    assert r["allowed"] is True and r["decisionId"] is None and "blockReasons" not in r
    assert [g["guardrailId"] for g in r["guardrailResults"]] == ["critical-needs-high-confidence"]
    assert r["calibrationContext"] == {"reviewedDecisions": 0}


def test_pre_action_options_take_both_casings_and_defaults(track_record: Any) -> None:
    snake = result(
        track_record,
        "cstp.preAction",
        {
            "action": {"description": "Cache things"},
            "options": {"query_limit": 1, "auto_record": False, "include_patterns": False},
        },
    )
    assert (
        len(snake["relevantDecisions"]) == 1
        and snake["decisionId"] is None
        and snake["patternsSummary"] == []
    )
    default = result(track_record, "cstp.preAction", {"action": {"description": "Cache more things"}})
    stored = track_record.app.state.services.decisions.get(default["decisionId"])
    assert (stored.confidence, stored.category, stored.stakes) == (0.5, "process", "medium")


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({}, "action"),
        ({"action": {"category": "process"}}, "description"),
        ({"action": {"description": "x"}, "options": {"queryLimit": "many"}}, "queryLimit"),
    ],
)
def test_pre_action_bad_params_are_invalid_params(client: Any, params: dict[str, Any], text: str) -> None:
    reply = rpc(client, "cstp.preAction", params)
    assert reply["error"]["code"] == -32602
    assert text.lower() in str(reply["error"]).lower()


class FailingQueries(HashEmbedder):
    """Embeds documents, fails every query: the store works, semantic search does not."""

    def embed(self, texts: Sequence[str], purpose: Purpose = "document") -> list[list[float]]:
        if purpose == "query":
            raise EmbedderUnavailable("embedding service down")
        return super().embed(texts, purpose)


def test_pre_action_with_the_embedder_down_degrades_only_the_query(settings_factory: Any) -> None:
    app = create_app(settings_factory(), adapters=Adapters(MemoryStore(HashEmbedder.space), FailingQueries()))
    with TestClient(app) as c:
        r = result(
            c, "cstp.preAction", {"action": {"description": "Ship it", "stakes": "high", "confidence": 0.3}}
        )
        assert r["degraded"] == ["query"] and r["relevantDecisions"] == []
        assert r["allowed"] is False and r["blockReasons"]  # the guardrails still answered
        ok = result(c, "cstp.preAction", {"action": {"description": "Ship it carefully", "confidence": 0.9}})
        assert ok["degraded"] == ["query"] and ok["decisionId"]  # and the record still happened


# --- getSessionContext --------------------------------------------------------------------------
def test_session_context_json_has_every_section(track_record: Any) -> None:
    store_decisions(
        track_record, old("5a1e0001", 45 * DAY, decision="An old pending call", pattern="cache hot reads")
    )
    r = result(
        track_record,
        "cstp.getSessionContext",
        {
            "taskDescription": "cache pages",
            "include": ["decisions", "guardrails", "calibration", "ready", "patterns", "wisdom"],
        },
    )
    p = r["agentProfile"]
    assert (p["totalDecisions"], p["reviewed"]) == (5, 3)
    assert p["overallAccuracy"] == pytest.approx(0.667) and p["tendency"] == "overconfident"
    assert p["strongestCategory"] == p["weakestCategory"] == "architecture"
    assert "activeSince" in p
    assert r["relevantDecisions"] and r["activeGuardrails"][0]["id"]
    arch = r["calibrationByCategory"]["architecture"]
    assert arch["reviewedDecisions"] == 3 and "brierScore" in arch
    assert r["readyQueue"] == [
        {
            "id": "5a1e0001",
            "title": "An old pending call",
            "reason": "stale_pending",
            "date": r["readyQueue"][0]["date"],
            "detail": "pending 45 days",
        }
    ]
    [pat] = r["confirmedPatterns"]
    assert (pat["pattern"], pat["count"], pat["categories"]) == (
        "cache hot reads",
        4,
        ["architecture", "process"],
    )
    assert isinstance(r["wisdom"], list) and isinstance(r["queryTimeMs"], int)


def test_session_context_defaults_leave_out_wisdom_and_need_a_task_for_decisions(track_record: Any) -> None:
    r = result(track_record, "cstp.getSessionContext", {})
    assert "wisdom" not in r and r["relevantDecisions"] == []
    only = result(track_record, "cstp.getSessionContext", {"include": ["guardrails"]})
    assert only["calibrationByCategory"] == {} and only["readyQueue"] == [] and only["activeGuardrails"]


def test_session_context_markdown_is_the_prompt_text(track_record: Any) -> None:
    r = result(
        track_record, "cstp.getSessionContext", {"format": "markdown", "task_description": "cache pages"}
    )
    assert set(r) == {"markdown", "queryTimeMs"}
    md = r["markdown"]
    assert md.startswith("## CSTP Decision Context (tester)")
    for heading in (
        "### Profile",
        "### Active Guardrails",
        "### Calibration by Category",
        "### Confirmed Patterns",
        "### Relevant Decisions",
        "### Protocol",
    ):
        assert heading in md
    assert "- **Decisions:** 4 total, 3 reviewed" in md


def test_session_context_limits_are_checked(client: Any) -> None:
    assert rpc(client, "cstp.getSessionContext", {"decisionsLimit": "x"})["error"]["code"] == -32602
    assert rpc(client, "cstp.getSessionContext", {"include": ["nonsense"]})["error"]["code"] == -32602


# --- ready --------------------------------------------------------------------------------------
def test_ready_lists_overdue_reviews_from_a_negative_review_in(client: Any) -> None:
    r = result(
        client, "cstp.recordDecision", {"decision": "Backfilled call", "stakes": "high", "reviewIn": "-1d"}
    )
    ready = result(client, "cstp.ready", {})
    [action] = ready["actions"]
    assert action["type"] == "review_outcome" and action["priority"] == "high"
    assert action["decisionId"] == r["id"] and "1d overdue" in action["detail"]
    assert (ready["total"], ready["filtered"]) == (1, 0)
    result(client, "cstp.recordDecision", {"decision": "Due next week", "reviewIn": "7d"})
    assert result(client, "cstp.ready", {})["total"] == 1


def test_ready_sorts_by_priority_and_filters(client: Any) -> None:
    store_decisions(
        client,
        old("00000001", 40 * DAY, stakes="low"),
        old("00000002", 70 * DAY, category="security"),
        old("00000003", 5 * DAY),
        old("00000004", 90 * DAY, outcome="success"),
    )
    ready = result(client, "cstp.ready", {})
    assert [(a["decisionId"], a["priority"]) for a in ready["actions"]] == [
        ("00000002", "high"),
        ("00000001", "medium"),
    ]
    high = result(client, "cstp.ready", {"minPriority": "high"})
    assert [a["decisionId"] for a in high["actions"]] == ["00000002"] and (
        high["total"],
        high["filtered"],
    ) == (2, 1)
    assert result(client, "cstp.ready", {"category": "security"})["total"] == 1
    assert result(client, "cstp.ready", {"action_types": ["review_outcome"]})["actions"] == []
    assert len(result(client, "cstp.ready", {"limit": 1})["actions"]) == 1


def test_ready_reports_calibration_drift(client: Any) -> None:
    good = [old(f"b{n:07d}", (40 + n) * DAY, outcome="success", category="tooling") for n in range(6)]
    bad = [old(f"c{n:07d}", (1 + n) * DAY, outcome="failure", category="tooling") for n in range(6)]
    store_decisions(client, *good, *bad)
    actions = result(client, "cstp.ready", {"actionTypes": ["calibration_drift"]})["actions"]
    assert actions and {a["type"] for a in actions} == {"calibration_drift"}
    assert all(a["category"] == "tooling" and a["priority"] == "high" for a in actions)


def test_ready_bad_params(client: Any) -> None:
    assert rpc(client, "cstp.ready", {"limit": "x"})["error"]["code"] == -32602
    assert rpc(client, "cstp.ready", {"actionTypes": ["dance"]})["error"]["code"] == -32602
