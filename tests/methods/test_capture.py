"""Deliberation capture over the wire: query → check → lookup → record, and who sees what."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cstp.domain import codec
from tests.conftest import TOKEN, rpc

OTHER = "other-token-0123456789"
TOKENS = f"tester:{TOKEN},other:{OTHER}"


def call(client: Any, token: str, method: str, params: dict[str, Any]) -> Any:
    body = {"jsonrpc": "2.0", "method": method, "id": 1, "params": params}
    response = client.post("/cstp", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def two(app_factory: Any) -> Iterator[Any]:
    """An app with two agents, `tester` (admin) and `other`."""
    with TestClient(app_factory(auth_tokens=TOKENS, admin_agents="tester")) as c:
        yield c


def _record(client: Any, text: str, token: str = TOKEN, **extra: Any) -> dict[str, Any]:
    params = {"decision": text, "category": "architecture", "confidence": 0.7, **extra}
    reply = call(client, token, "cstp.recordDecision", params)
    assert "result" in reply, reply
    return reply["result"]  # type: ignore[no-any-return]


def _get(client: Any, decision_id: str) -> dict[str, Any]:
    """The stored record, read behind the wire (a getDecision would itself be captured)."""
    return codec.to_record(client.app.state.services.decisions.get(decision_id))


def test_query_check_and_lookup_become_the_next_records_deliberation(two: Any) -> None:
    seed = _record(two, "Store invoices in Postgres with row level security")
    first = _record(two, "Unrelated first record consumes nothing")
    assert "deliberation_auto" not in first and "related_count" not in first
    hits = rpc(two, "cstp.queryDecisions", {"query": "invoices postgres"})["result"]["decisions"]
    assert seed["id"] in [h["id"] for h in hits]
    rpc(two, "cstp.checkGuardrails", {"action": {"description": "migrate invoices", "stakes": "low"}})
    rpc(two, "cstp.getDecision", {"id": seed["id"]})
    result = _record(two, "Keep invoices in Postgres and add a read replica")
    assert result["deliberation_auto"] is True
    assert result["deliberation_inputs_count"] == 3
    assert result["related_count"] == len(hits[:5])
    stored = _get(two, result["id"])
    d = stored["deliberation"]
    assert [i["source"] for i in d["inputs"]] == [
        "cstp:queryDecisions",
        "cstp:checkGuardrails",
        "cstp:getDecision",
    ]
    assert [i["id"][:2] for i in d["inputs"]] == ["q-", "g-", "l-"]
    assert [s["step"] for s in d["steps"]] == [1, 2, 3]
    assert [s["inputs_used"] for s in d["steps"]] == [[i["id"]] for i in d["inputs"]]
    assert stored["related_to"][0]["id"] in [h["id"] for h in hits]
    # consumed: the next record starts empty
    again = _record(two, "A later decision with nothing looked up")
    assert "deliberation_auto" not in again
    assert "deliberation" not in _get(two, again["id"])


def test_an_explicit_deliberation_keeps_its_steps_and_gets_the_captured_ones_after(two: Any) -> None:
    rpc(two, "cstp.queryDecisions", {"query": "caching layer"})
    explicit = {"inputs": [{"id": "i1", "text": "benchmarks"}], "steps": [{"step": 1, "thought": "measured"}]}
    result = _record(two, "Add a Redis cache in front of the API", deliberation=explicit)
    d = _get(two, result["id"])["deliberation"]
    assert [i["id"] for i in d["inputs"]][0] == "i1" and len(d["inputs"]) == 2
    assert [s["step"] for s in d["steps"]] == [1, 2]


def test_explicit_related_to_is_kept_and_not_counted(two: Any) -> None:
    _record(two, "Queue nightly reports")
    rpc(two, "cstp.queryDecisions", {"query": "nightly reports"})
    mine = [{"id": "abcdef12", "summary": "chosen by hand", "distance": 0.0}]
    result = _record(two, "Queue weekly reports too", related_to=mine)
    assert result["deliberation_auto"] is True and "related_count" not in result
    assert _get(two, result["id"])["related_to"] == mine


def test_one_agent_never_consumes_or_sees_another_agents_inputs(two: Any) -> None:
    call(two, OTHER, "cstp.queryDecisions", {"query": "secret plans of other"})
    mine = _record(two, "Tester decides something")
    assert "deliberation_auto" not in mine
    seen = call(two, OTHER, "cstp.debugTracker", {})["result"]
    assert seen["sessions"] == ["rpc:other"]
    # an agentId naming another agent only narrows the caller's own key, it never reaches theirs
    narrowed = _record(two, "Tester pretends to be other", agentId="other")
    assert "deliberation_auto" not in narrowed
    theirs = _record(two, "Other records its own", token=OTHER)
    assert theirs["deliberation_inputs_count"] == 1


def test_debug_tracker_is_scoped_to_the_caller_unless_admin(two: Any) -> None:
    call(two, OTHER, "cstp.recordThought", {"text": "other thinks", "agentId": "sub"})
    rpc(two, "cstp.recordThought", {"text": "tester thinks", "agentId": "sub"})
    own = call(two, OTHER, "cstp.debugTracker", {})["result"]
    assert own["sessions"] == ["agent:sub"] and own["sessionCount"] == 1
    assert [i["text"] for i in own["detail"]["agent:sub"]["inputs"]] == ["other thinks"]
    admin = rpc(two, "cstp.debugTracker", {})["result"]
    assert sorted(admin["sessions"]) == ["agent:sub", "agent:sub@other"]
    only = rpc(two, "cstp.debugTracker", {"key": "agent:sub@other"})["result"]
    assert list(only["detail"]) == ["agent:sub@other"]
    inp = only["detail"]["agent:sub@other"]["inputs"][0]
    assert set(inp) == {"id", "type", "text", "source", "ageSeconds"} and inp["type"] == "reasoning"
    assert "consumed" not in own


def test_debug_tracker_history_shows_the_consuming_decision(two: Any) -> None:
    rpc(two, "cstp.queryDecisions", {"query": "history please"})
    result = _record(two, "Decide after one query")
    history = rpc(two, "cstp.debugTracker", {"includeConsumed": True})["result"]
    assert history["sessions"] == []
    [entry] = history["consumed"]
    assert entry["decisionId"] == result["id"] and entry["key"] == "rpc:tester"
    assert entry["inputCount"] == 1 and entry["status"] == "consumed"
    assert isinstance(entry["consumedAt"], int) and entry["inputsSummary"][0]["type"] == "query"
    assert call(two, OTHER, "cstp.debugTracker", {"includeConsumed": True})["result"]["consumed"] == []


def test_record_thought_pre_decision_is_consumed_by_the_scoped_record(two: Any) -> None:
    reply = rpc(
        two, "cstp.recordThought", {"text": "consider sharding", "agentId": "planner", "decisionId": "d-1"}
    )
    assert reply["result"] == {
        "success": True,
        "mode": "pre-decision",
        "tracker_key": "agent:planner:decision:d-1",
        "agent_id": "planner",
    }
    unscoped = _record(two, "An unscoped record does not take scoped thoughts")
    assert "deliberation_auto" not in unscoped
    scoped = _record(two, "Shard by tenant", agent_id="planner", decision_id="d-1")
    assert scoped["deliberation_inputs_count"] == 1
    step = _get(two, scoped["id"])["deliberation"]["steps"][0]
    assert (step["type"], step["thought"]) == ("reasoning", "consider sharding")


def test_record_thought_post_decision_appends_a_numbered_step(two: Any) -> None:
    rpc(two, "cstp.queryDecisions", {"query": "anything"})
    decision = _record(two, "Adopt feature flags")
    first = rpc(two, "cstp.recordThought", {"text": "rollout went fine", "id": decision["id"]})["result"]
    assert first == {
        "success": True,
        "mode": "post-decision",
        "decision_id": decision["id"],
        "step_number": 2,
    }
    second = rpc(two, "cstp.recordThought", {"text": "one more", "id": decision["id"]})["result"]
    assert second["step_number"] == 3
    steps = _get(two, decision["id"])["deliberation"]["steps"]
    assert [s["thought"] for s in steps[1:]] == ["rollout went fine", "one more"]


def test_record_thought_errors(two: Any) -> None:
    missing = rpc(two, "cstp.recordThought", {"agentId": "x"})
    assert missing["error"]["code"] == -32602 and "text" in missing["error"]["message"]
    unknown = rpc(two, "cstp.recordThought", {"text": "t", "id": "ffffffff"})
    assert unknown["error"]["code"] == -32602


def test_the_inputs_are_read_while_the_record_is_embedded(settings_factory: Any) -> None:
    """The tracker's read of the caller's inputs and the record's embedding overlap: here the read
    cannot finish until the embedding has begun, which would fail the record (after the timeout)
    if the two ran one after the other, as they did."""
    import threading

    from cstp.adapters.memory_store import MemoryStore
    from cstp.adapters.memory_tracker import MemoryTracker
    from cstp.app import Adapters, create_app
    from tests.fakes import HashEmbedder

    embedding = threading.Event()
    waited: list[bool] = []

    class Embedder(HashEmbedder):
        def embed(self, texts: Any, purpose: Any = "document") -> Any:
            if purpose == "document":
                embedding.set()
            return super().embed(texts, purpose)

    class Tracker(MemoryTracker):
        def rows(self, owner: Any, kind: Any, now: Any) -> Any:
            if kind == "input":
                waited.append(embedding.wait(10))
            return super().rows(owner, kind, now)

    adapters = Adapters(MemoryStore(HashEmbedder.space), Embedder(), tracker=Tracker())
    with TestClient(create_app(settings_factory(), adapters=adapters)) as client:
        hits = rpc(client, "cstp.queryDecisions", {"query": "invoices"})["result"]["decisions"]
        assert hits == []
        result = _record(client, "Store invoices in Postgres")
        stored = _get(client, result["id"])
    assert waited == [True]  # the read found the embedding already under way
    assert result["deliberation_auto"] is True and result["deliberation_inputs_count"] == 1
    assert [i["source"] for i in stored["deliberation"]["inputs"]] == ["cstp:queryDecisions"]
