"""cstp.listBreakers, cstp.getCircuitState, cstp.resetCircuit, and breakers in checkGuardrails, over
HTTP on the whole app: failures come from cstp.reviewDecision, as with the reference's clients."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import rpc

BREAKERS = """
circuit_breakers:
  - scope: stakes:critical
    failure_threshold: 2
    window_ms: 86400000
    cooldown_ms: 7200000
  - scope: category:security
    failure_threshold: 3
    notify: false
"""


@pytest.fixture
def breaker_client(app_factory: Any, tmp_path: Path) -> Iterator[Any]:
    rules = tmp_path / "guardrails"
    rules.mkdir()
    (rules / "circuit_breakers.yaml").write_text(BREAKERS, encoding="utf-8")
    with TestClient(app_factory(guardrails_paths=str(rules))) as c:
        yield c


def record(c: Any, stakes: str = "critical", category: str = "architecture", **extra: Any) -> str:
    params = {"decision": f"Change {stakes} {category} thing", "category": category, "stakes": stakes}
    params.setdefault("confidence", 0.8)
    result = rpc(c, "cstp.recordDecision", {**params, **extra})["result"]
    return str(result["id"])


def review(c: Any, decision_id: str, outcome: str) -> None:
    assert rpc(c, "cstp.reviewDecision", {"id": decision_id, "outcome": outcome})["result"]["success"]


def fail_critical(c: Any, n: int = 2) -> None:
    for _ in range(n):
        review(c, record(c), "failure")


def check(c: Any, stakes: str = "critical", **action: Any) -> dict[str, Any]:
    params = {"action": {"description": "Deploy the new ledger", "stakes": stakes, **action}}
    return rpc(c, "cstp.checkGuardrails", params)["result"]  # type: ignore[no-any-return]


def state(c: Any, scope: str = "stakes:critical") -> dict[str, Any]:
    return rpc(c, "cstp.getCircuitState", {"scope": scope})["result"]  # type: ignore[no-any-return]


def test_list_breakers_sends_the_dashboards_snake_case_items(breaker_client: Any) -> None:
    result = rpc(breaker_client, "cstp.listBreakers", {})["result"]
    assert result == {
        "breakers": [
            {
                "scope": "category:security",
                "state": "closed",
                "failure_count": 0,
                "failure_threshold": 3,
                "window_ms": 3_600_000,
                "cooldown_ms": 1_800_000,
                "cooldown_remaining_ms": None,
                "from_config": True,
            },
            {
                "scope": "stakes:critical",
                "state": "closed",
                "failure_count": 0,
                "failure_threshold": 2,
                "window_ms": 86_400_000,
                "cooldown_ms": 7_200_000,
                "cooldown_remaining_ms": None,
                "from_config": True,
            },
        ]
    }


def test_without_configured_breakers_the_list_is_empty(client: Any) -> None:
    assert rpc(client, "cstp.listBreakers")["result"] == {"breakers": []}
    assert check(client, stakes="low")["allowed"] is True


def test_get_circuit_state_is_camel_case(breaker_client: Any) -> None:
    assert state(breaker_client) == {
        "scope": "stakes:critical",
        "state": "closed",
        "failureCount": 0,
        "failureThreshold": 2,
        "windowMs": 86_400_000,
        "cooldownMs": 7_200_000,
        "probeInFlight": False,
    }


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("cstp.getCircuitState", {}, "Missing required parameter: scope"),
        ("cstp.getCircuitState", {"scope": "  "}, "Missing required parameter: scope"),
        ("cstp.getCircuitState", {"scope": "stakes:low"}, "No circuit breaker found for scope: stakes:low"),
        ("cstp.resetCircuit", {}, "Missing required parameter: scope"),
        ("cstp.resetCircuit", {"scope": "tag:x"}, "No breaker found for scope: tag:x"),
        (
            "cstp.resetCircuit",
            {"scope": "stakes:critical"},
            "Can only reset OPEN breakers, current state: closed",
        ),
    ],
)
def test_bad_scopes_are_invalid_params(breaker_client: Any, method: str, params: Any, message: str) -> None:
    error = rpc(breaker_client, method, params)["error"]
    assert error["code"] == -32602
    assert message in error["message"] + str(error.get("data", ""))


def test_failed_reviews_open_the_breaker_and_checks_in_its_scope_are_blocked(breaker_client: Any) -> None:
    c = breaker_client
    fail_critical(c, 1)
    assert check(c)["allowed"] is True
    fail_critical(c, 1)
    result = check(c)
    assert result["allowed"] is False
    (violation,) = result["violations"]
    assert set(violation) == {"guardrailId", "name", "message", "severity", "type", "state", "resetAt"}
    assert violation["guardrailId"] == "circuit_breaker:stakes:critical"
    assert violation["message"] == "Circuit breaker OPEN for stakes:critical: 2/2 failures in window"
    assert (violation["severity"], violation["type"], violation["state"]) == (
        "block",
        "circuit_breaker",
        "open",
    )
    assert datetime.fromisoformat(violation["resetAt"]) > datetime.fromisoformat(result["evaluatedAt"])
    assert check(c, stakes="high")["allowed"] is True  # outside the scope
    st = state(c)
    assert (st["state"], st["failureCount"]) == ("open", 2)
    assert 0 < st["cooldownRemainingMs"] <= 7_200_000
    datetime.fromisoformat(st["openedAt"])
    listed = {b["scope"]: b for b in rpc(c, "cstp.listBreakers")["result"]["breakers"]}
    assert listed["stakes:critical"]["state"] == "open"
    assert listed["stakes:critical"]["cooldown_remaining_ms"] == pytest.approx(
        st["cooldownRemainingMs"], abs=5_000
    )


def test_success_and_partial_clear_the_count_and_other_outcomes_do_not_count(breaker_client: Any) -> None:
    c = breaker_client
    fail_critical(c, 1)
    review(c, record(c), "partial")
    fail_critical(c, 1)
    assert check(c)["allowed"] is True
    review(c, record(c, stakes="high"), "failure")  # another scope
    assert state(c)["failureCount"] == 1


def test_a_category_breaker_counts_abandoned_decisions(breaker_client: Any) -> None:
    c = breaker_client
    for _ in range(3):
        review(c, record(c, stakes="low", category="security"), "abandoned")
    blocked = check(c, stakes="low", category="security")
    assert [v["guardrailId"] for v in blocked["violations"]] == ["circuit_breaker:category:security"]


def test_reset_circuit_closes_it_and_sends_both_casings(breaker_client: Any) -> None:
    c = breaker_client
    fail_critical(c)
    result = rpc(c, "cstp.resetCircuit", {"scope": "stakes:critical"})["result"]
    assert result == {
        "scope": "stakes:critical",
        "previousState": "open",
        "newState": "closed",
        "previous_state": "open",
        "new_state": "closed",
        "message": "Circuit breaker stakes:critical reset: open -> closed",
    }
    assert check(c)["allowed"] is True
    assert state(c)["failureCount"] == 0


def test_probe_first_lets_exactly_one_action_through_until_its_outcome(breaker_client: Any) -> None:
    c = breaker_client
    fail_critical(c)
    reset = rpc(c, "cstp.resetCircuit", {"scope": "stakes:critical", "probe_first": True})["result"]
    assert (reset["previousState"], reset["newState"]) == ("open", "half_open")
    assert check(c)["allowed"] is True  # the probe
    blocked = check(c)
    assert blocked["allowed"] is False and blocked["violations"][0]["state"] == "half_open"
    assert "resetAt" not in blocked["violations"][0]
    assert state(c)["probeInFlight"] is True
    review(c, record(c), "success")  # the probe's outcome
    assert state(c)["state"] == "closed"
    assert check(c)["allowed"] is True


def test_a_failed_probe_opens_it_again(breaker_client: Any) -> None:
    c = breaker_client
    fail_critical(c)
    rpc(c, "cstp.resetCircuit", {"scope": "stakes:critical", "probeFirst": True})
    assert check(c)["allowed"] is True
    review(c, record(c), "failure")
    assert state(c)["state"] == "open"
    assert rpc(c, "cstp.resetCircuit", {"scope": "stakes:critical"})["result"]["newState"] == "closed"


def test_recording_a_decision_is_never_blocked_by_a_breaker(breaker_client: Any) -> None:
    c = breaker_client
    fail_critical(c)
    result = rpc(c, "cstp.recordDecision", {"decision": "Roll back the ledger", "stakes": "critical"})[
        "result"
    ]
    assert result["success"] is True
    assert not any(
        w["guardrail_id"].startswith("circuit_breaker") for w in result.get("guardrail_warnings", [])
    )


def test_the_agent_card_lists_the_breaker_methods(breaker_client: Any) -> None:
    methods = breaker_client.get("/.well-known/agent.json").json()["capabilities"]["cstp"]["methods"]
    assert {"cstp.listBreakers", "cstp.getCircuitState", "cstp.resetCircuit"} <= set(methods)


def test_an_unwritable_breaker_log_fails_the_review_and_a_retry_counts_once(
    settings_factory: Any, tmp_path: Path
) -> None:
    from cstp.adapters.memory_breakers import MemoryBreakers
    from cstp.adapters.memory_store import MemoryStore
    from cstp.app import Adapters, create_app
    from tests.fakes import HashEmbedder

    rules = tmp_path / "guardrails"
    rules.mkdir()
    (rules / "circuit_breakers.yaml").write_text(BREAKERS, encoding="utf-8")
    log = MemoryBreakers()
    adapters = Adapters(MemoryStore(HashEmbedder.space), HashEmbedder(), breakers=log)
    with TestClient(create_app(settings_factory(guardrails_paths=str(rules)), adapters=adapters)) as c:
        decision_id = record(c)
        log.fail = True
        error = rpc(c, "cstp.reviewDecision", {"id": decision_id, "outcome": "failure"})["error"]
        assert (error["code"], error["message"]) == (-32603, "Decision store unavailable")
        log.fail = False
        review(c, decision_id, "failure")
        review(c, decision_id, "failure")
        assert state(c)["failureCount"] == 1


def test_an_open_breaker_blocks_pre_action_and_nothing_is_recorded(breaker_client: Any) -> None:
    """preAction runs the same guardrail check as checkGuardrails, breakers included."""
    before = rpc(breaker_client, "cstp.getStats", {})["result"]["total"]
    params = {"action": {"description": "Deploy the new ledger", "stakes": "critical", "confidence": 0.9}}
    allowed = rpc(breaker_client, "cstp.preAction", params)["result"]
    assert allowed["allowed"] is True and allowed["decisionId"]
    fail_critical(breaker_client)
    assert state(breaker_client)["state"] == "open"
    blocked = rpc(breaker_client, "cstp.preAction", params)["result"]
    assert blocked["allowed"] is False and blocked["decisionId"] is None
    assert any("Circuit breaker OPEN for stakes:critical" in r for r in map(str, blocked["blockReasons"]))
    assert any(g.get("type") == "circuit_breaker" for g in blocked["guardrailResults"])
    # one allowed preAction record plus the two failed decisions; the blocked call recorded nothing
    assert rpc(breaker_client, "cstp.getStats", {})["result"]["total"] == before + 3
    low = {"action": {"description": "Rename a column", "stakes": "low", "confidence": 0.9}}
    assert rpc(breaker_client, "cstp.preAction", low)["result"]["allowed"] is True  # other scopes flow


def test_session_context_shows_the_breakers_that_are_not_closed(breaker_client: Any) -> None:
    quiet = rpc(breaker_client, "cstp.getSessionContext", {"format": "json"})["result"]
    assert "circuitBreakers" not in quiet  # all closed
    fail_critical(breaker_client)
    context = rpc(breaker_client, "cstp.getSessionContext", {"format": "json"})["result"]
    [open_one] = context["circuitBreakers"]
    assert (open_one["scope"], open_one["state"], open_one["failure_count"]) == ("stakes:critical", "open", 2)
    text = rpc(breaker_client, "cstp.getSessionContext", {"format": "markdown"})["result"]["markdown"]
    assert "### Circuit Breakers" in text and "**stakes:critical** OPEN: 2/2 failures" in text
