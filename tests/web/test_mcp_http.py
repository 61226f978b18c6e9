"""/mcp with the MCP SDK's own client against a real server: handshake, tools, auth, Origin, errors.

Every listed tool is called with an example below; a listed tool without one fails the suite, so a
tool whose method lands later (preAction, recordThought, ...) gets its example then. Read-only
tools are compared with their JSON-RPC twin called with the same params: one handler, one result.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from jsonschema import Draft202012Validator
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from cstp.app import all_methods
from cstp.web.mcp.tools import TOOLS, ToolSpec, available
from tests.conftest import AUTH, TOKEN
from tests.web.mcp_live import Live, serving, session

OTHER_TOKEN = "other-token-0123456789"
_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
_ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
# Keys whose values differ between two calls that read the same data.
_VOLATILE = {"queryTimeMs", "queryTime", "evaluatedAt", "timestamp", "generatedAt"}


BREAKERS_YAML = """\
circuit_breakers:
  - scope: stakes:high
    failure_threshold: 3
    window_ms: 86400000
    cooldown_ms: 3600000
"""


@pytest.fixture
def live(app_factory: Any, tmp_path: Any) -> Any:
    """A live server with one circuit breaker configured (for the breaker tools)."""
    (tmp_path / "guardrails").mkdir()
    (tmp_path / "guardrails" / "circuit_breakers.yaml").write_text(BREAKERS_YAML)
    app = app_factory(
        auth_tokens=f"tester:{TOKEN},other:{OTHER_TOKEN}", guardrails_paths=str(tmp_path / "guardrails")
    )
    with serving(app) as server:
        yield server


@dataclass
class Seeded:
    live: Live
    a: str  # reviewed
    b: str  # pending


@pytest.fixture
def mcp_seeded(live: Live) -> Seeded:
    ids = []
    for text, category in (
        ("Use PostgreSQL as the primary database for billing", "architecture"),
        ("Run the test suite in CI on every pull request", "process"),
    ):
        reply = live.rpc(
            "cstp.recordDecision",
            {
                "decision": text,
                "confidence": 0.8,
                "category": category,
                "reasons": [{"type": "analysis", "text": "measured"}],
            },
        )
        ids.append(reply["result"]["id"])
    live.rpc("cstp.reviewDecision", {"id": ids[0], "outcome": "success"})
    return Seeded(live, ids[0], ids[1])


EXAMPLES: dict[str, Callable[[Seeded], dict[str, Any]]] = {
    "query_decisions": lambda s: {"query": "database for billing", "limit": 3},
    "check_action": lambda s: {
        "description": "deploy the billing service",
        "stakes": "high",
        "confidence": 0.9,
    },
    "log_decision": lambda s: {
        "decision": "Adopt ruff for linting",
        "confidence": 0.7,
        "category": "tooling",
        "reasons": [{"type": "analysis", "text": "one fast tool"}],
        "agent_id": "tester-sub-agent",
    },
    "review_outcome": lambda s: {
        "id": s.b,
        "outcome": "partial",
        "actual_result": "flaky",
        "lessons": "retry",
    },
    "get_stats": lambda s: {"window": "all"},
    "get_decision": lambda s: {"id": s.a},
    "get_reason_stats": lambda s: {"min_reviewed": 1},
    "update_decision": lambda s: {"id": s.a, "tags": ["db", "billing"]},
    "link_decisions": lambda s: {"source_id": s.b, "target_id": s.a, "edge_type": "depends_on"},
    "get_graph": lambda s: {"node_id": s.a, "depth": 2},
    "get_neighbors": lambda s: {"node_id": s.a, "direction": "both"},
    "record_thought": lambda s: {"text": "Postgres fits: billing needs transactions"},
    "pre_action": lambda s: {
        "action": {
            "description": "Add a read replica for billing",
            "category": "architecture",
            "confidence": 0.7,
        },
        "options": {"query_limit": 3, "auto_record": True},
        "reasons": [{"type": "analysis", "text": "read load doubled"}],
        "agent_id": "tester-sub-agent",
    },
    "get_session_context": lambda s: {"task_description": "billing database work", "format": "json"},
    "ready": lambda s: {"min_priority": "low", "limit": 10},
    "get_circuit_state": lambda s: {"scope": "stakes:high"},
    "list_breakers": lambda s: {},
}


def _decision(s: Seeded, decision_id: str) -> dict[str, Any]:
    result = s.live.rpc("cstp.getDecision", {"id": decision_id})["result"]
    assert result["found"], result
    record: dict[str, Any] = result["decision"]
    return record


def _check_logged(s: Seeded, result: dict[str, Any]) -> None:
    assert result["success"] is True
    record = _decision(s, result["id"])
    assert record["decision"] == "Adopt ruff for linting"
    assert record["recorded_by"] == "tester"  # the token's agent, not the agent_id argument


def _check_reviewed(s: Seeded, result: dict[str, Any]) -> None:
    assert result["success"] is True
    record = _decision(s, s.b)
    assert record["status"] == "reviewed" and record["outcome"] == "partial"


def _check_updated(s: Seeded, result: dict[str, Any]) -> None:
    assert result["success"] is True
    assert _decision(s, s.a)["tags"] == ["db", "billing"]


def _check_linked(s: Seeded, result: dict[str, Any]) -> None:
    assert result["success"] is True
    neighbors = s.live.rpc("cstp.getNeighbors", {"nodeId": s.b, "direction": "outgoing"})["result"]
    assert [n["node"]["id"] for n in neighbors["neighbors"]] == [s.a]
    assert result["edge"]["createdBy"] == "tester"


def _check_thought(s: Seeded, result: dict[str, Any]) -> None:
    assert result["success"] is True and result["mode"] == "pre-decision"
    inputs = s.live.rpc("cstp.debugTracker", {})["result"]
    assert "Postgres fits: billing needs transactions" in json.dumps(inputs)


def _check_pre_action(s: Seeded, result: dict[str, Any]) -> None:
    assert result["allowed"] is True
    recorded = result["decisionId"]
    record = _decision(s, recorded)
    assert record["decision"] == "Add a read replica for billing"
    assert record["recorded_by"] == "tester"  # agent_id narrows the tracker key, never impersonates


# Write tools: what the call must have changed (their twin would change it again).
WRITE_CHECKS: dict[str, Callable[[Seeded, dict[str, Any]], None]] = {
    "record_thought": _check_thought,
    "pre_action": _check_pre_action,
    "log_decision": _check_logged,
    "review_outcome": _check_reviewed,
    "update_decision": _check_updated,
    "link_decisions": _check_linked,
}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _listed() -> tuple[ToolSpec, ...]:
    return available(all_methods())


def test_the_tool_list_is_exactly_the_tools_whose_method_is_registered(live: Live) -> None:
    async def main() -> None:
        async with session(live.mcp) as s:
            listed = (await s.list_tools()).tools
        assert [t.name for t in listed] == [t.name for t in _listed()]
        registered = set(all_methods())
        assert {t.name for t in TOOLS if t.method not in registered}.isdisjoint(t.name for t in listed)
        for tool, spec in zip(listed, _listed(), strict=True):
            Draft202012Validator.check_schema(tool.input_schema)
            assert tool.input_schema["type"] == "object"
            assert tool.description and len(tool.description) > 30
            assert tool.annotations is not None and tool.annotations.read_only_hint is spec.read_only

    anyio.run(main)


def test_the_reference_tool_names_whose_methods_exist_are_all_served(live: Live) -> None:
    async def main() -> None:
        async with session(live.mcp) as s:
            names = {t.name for t in (await s.list_tools()).tools}
        implemented = {
            "query_decisions",
            "check_action",
            "log_decision",
            "review_outcome",
            "get_stats",
            "get_decision",
            "get_reason_stats",
            "update_decision",
            "link_decisions",
            "get_graph",
            "get_neighbors",
            "record_thought",
            "pre_action",
            "get_session_context",
            "ready",
            "get_circuit_state",
            "list_breakers",
        }
        assert implemented == names  # all 17 of the reference's tools

    anyio.run(main)


def test_deliberation_is_captured_across_mcp_calls_and_json_rpc_ones(mcp_seeded: Seeded) -> None:
    """One agent's query and check over MCP, a thought over JSON-RPC, then its decision logged over
    MCP: the record carries all three as deliberation (one tracker key scheme for both)."""
    live = mcp_seeded.live

    async def main() -> dict[str, Any]:
        async with session(live.mcp) as s:
            await s.call_tool("query_decisions", {"query": "database for billing"})
            await s.call_tool("check_action", {"description": "Shard the billing database", "stakes": "high"})
            live.rpc("cstp.recordThought", {"text": "sharding beats a bigger box here"})
            logged = await s.call_tool(
                "log_decision",
                {"decision": "Shard the billing database", "confidence": 0.75, "category": "architecture"},
            )
        assert not logged.is_error, logged.content
        assert isinstance(logged.structured_content, dict)
        return logged.structured_content

    result = anyio.run(main)
    assert result["deliberation_auto"] is True and result["deliberation_inputs_count"] >= 3
    deliberation = _decision(mcp_seeded, result["id"])["deliberation"]
    sources = {i["source"] for i in deliberation["inputs"]}
    assert {"cstp:queryDecisions", "cstp:checkGuardrails"} <= sources, sources
    assert "sharding beats a bigger box here" in json.dumps(deliberation)
    assert result["related_count"] >= 1  # the query's hits became related_to

    anyio.run(main)


def test_every_listed_tool_works_and_matches_its_json_rpc_twin(mcp_seeded: Seeded) -> None:
    listed = _listed()
    missing = [t.name for t in listed if t.name not in EXAMPLES]
    assert not missing, f"listed tools without an example in EXAMPLES: {missing}"
    unchecked = [t.name for t in listed if not t.read_only and t.name not in WRITE_CHECKS]
    assert not unchecked, f"write tools without a check in WRITE_CHECKS: {unchecked}"

    async def main() -> None:
        async with session(mcp_seeded.live.mcp) as s:
            for spec in listed:
                args = EXAMPLES[spec.name](mcp_seeded)
                result = await s.call_tool(spec.name, args)
                assert not result.is_error, (spec.name, result.content)
                structured = result.structured_content
                assert isinstance(structured, dict), spec.name
                text = result.content[0].text  # type: ignore[union-attr]
                assert json.loads(text) == structured, spec.name
                if spec.read_only:
                    twin = mcp_seeded.live.rpc(spec.method, spec.params(args))["result"]
                    assert _stable(structured) == _stable(spec.shape(twin)), spec.name
                else:
                    WRITE_CHECKS[spec.name](mcp_seeded, structured)

    anyio.run(main)


def test_tool_defaults_are_the_reference_tools_defaults(mcp_seeded: Seeded) -> None:
    async def main() -> None:
        async with session(mcp_seeded.live.mcp) as s:
            result = await s.call_tool("query_decisions", {"query": "billing database"})
        structured = result.structured_content
        assert structured["retrievalMode"] == "hybrid"  # the method alone defaults to semantic
        assert len(structured["decisions"]) <= 5

    anyio.run(main)


def test_check_action_findings_use_snake_case_guardrail_id(live: Live) -> None:
    spec = next(t for t in TOOLS if t.name == "check_action")
    shaped = spec.shape(
        {"allowed": False, "violations": [{"guardrailId": "g1", "name": "n"}], "warnings": []}
    )
    assert shaped["violations"] == [{"guardrail_id": "g1", "name": "n"}]

    async def main() -> None:
        async with session(live.mcp) as s:
            result = await s.call_tool(
                "check_action", {"description": "ship it", "stakes": "critical", "confidence": 0.1}
            )
        findings = result.structured_content["violations"] + result.structured_content["warnings"]
        assert findings, "the packaged rules flag a critical action at confidence 0.1"
        assert all("guardrail_id" in f and "guardrailId" not in f for f in findings)

    anyio.run(main)


def test_a_failed_call_is_an_error_result_with_the_json_rpc_message(live: Live) -> None:
    async def main() -> dict[str, Any]:
        async with session(live.mcp) as s:
            missing = await s.call_tool("review_outcome", {"id": "deadbeef", "outcome": "success"})
            invalid = await s.call_tool("get_neighbors", {"node_id": "a1", "limit": 1000})
        return {"missing": missing, "invalid": invalid}

    results = anyio.run(main)
    twin = live.rpc("cstp.reviewDecision", {"id": "deadbeef", "outcome": "success"})["error"]
    missing = results["missing"]
    assert missing.is_error is True
    assert missing.content[0].text == twin["message"]
    assert missing.structured_content == {"error": twin}
    invalid = results["invalid"]
    assert invalid.is_error is True and "limit" in invalid.content[0].text
    assert invalid.structured_content["error"]["code"] == -32602


def test_an_unknown_tool_is_a_protocol_error(live: Live) -> None:
    async def main() -> None:
        async with session(live.mcp) as s:
            with pytest.raises(MCPError, match="Unknown tool"):
                await s.call_tool("record_nothing", {})

    anyio.run(main)


def test_arguments_outside_the_schema_are_not_passed_on(live: Live) -> None:
    async def main() -> str:
        async with session(live.mcp) as s:
            result = await s.call_tool(
                "log_decision",
                {"decision": "Pin the SDK", "confidence": 0.6, "category": "tooling", "reviewIn": "bogus"},
            )
        assert not result.is_error, result.content  # recordDecision would refuse reviewIn "bogus"
        return str(result.structured_content["id"])

    decision_id = anyio.run(main)
    assert live.rpc("cstp.getDecision", {"id": decision_id})["result"]["found"]


def test_calls_run_as_the_tokens_agent(live: Live) -> None:
    async def main() -> str:
        async with session(live.mcp, OTHER_TOKEN) as s:
            result = await s.call_tool(
                "log_decision",
                {
                    "decision": "Cache the embeddings",
                    "confidence": 0.5,
                    "category": "tooling",
                    "agent_id": "tester",
                },
            )
        return str(result.structured_content["id"])

    decision_id = anyio.run(main)
    record = live.rpc("cstp.getDecision", {"id": decision_id})["result"]["decision"]
    assert record["recorded_by"] == "other"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong-token-000"}, {"Authorization": "Basic x"}]
)
def test_missing_or_wrong_token_is_401_before_any_mcp_processing(live: Live, headers: dict[str, str]) -> None:
    for body in (json.dumps(_INIT), "not json at all"):
        response = httpx.post(live.mcp, content=body, headers={**_ACCEPT, **headers})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "mcp-session-id" not in response.headers


def test_the_sdk_client_with_a_wrong_token_cannot_connect(live: Live) -> None:
    async def main() -> None:
        async with session(live.mcp, "wrong-token-000"):
            pass  # pragma: no cover - initialize must fail

    with pytest.raises(BaseExceptionGroup) as info:
        anyio.run(main)
    assert info.group_contains(MCPError)  # the SDK's client reports the refused request as an error


def test_both_paths_answer_without_redirect_and_stateless(live: Live) -> None:
    for path in ("/mcp", "/mcp/"):
        response = httpx.post(live.url + path, json=_INIT, headers={**_ACCEPT, **AUTH})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["result"]["serverInfo"]["name"] == "cstp-decisions"
        assert "mcp-session-id" not in response.headers  # stateless: any replica answers any request


def test_a_tool_call_needs_no_session_any_request_stands_alone(live: Live) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "get_stats", "arguments": {}},
    }
    headers = {**_ACCEPT, **AUTH, "MCP-Protocol-Version": "2025-11-25"}
    response = httpx.post(live.mcp, json=call, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["isError"] is False


def test_an_unsupported_protocol_version_is_refused(live: Live) -> None:
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    headers = {**_ACCEPT, **AUTH, "MCP-Protocol-Version": "1999-01-01"}
    response = httpx.post(live.mcp, json=call, headers=headers)
    assert response.status_code == 400
    assert "result" not in response.json()


def test_a_foreign_origin_is_refused_even_with_a_valid_token(live: Live) -> None:
    for origin in ("http://evil.example", f"{live.url}"):  # a rebound page shows its own origin
        response = httpx.post(live.mcp, json=_INIT, headers={**_ACCEPT, **AUTH, "Origin": origin})
        assert response.status_code == 403
        assert response.json() == {"detail": "Origin not allowed"}


def test_listed_origins_are_allowed(app_factory: Any) -> None:
    app = app_factory(mcp_allowed_origins="http://localhost:*, https://inspector.example")
    with serving(app) as live:
        for origin, status in (
            ("http://localhost:6274", 200),
            ("https://inspector.example", 200),
            ("http://localhost.evil.example", 403),
            ("https://inspector.example.evil", 403),
        ):
            response = httpx.post(live.mcp, json=_INIT, headers={**_ACCEPT, **AUTH, "Origin": origin})
            assert response.status_code == status, origin


def test_the_stateless_2026_protocol_client_works_too(mcp_seeded: Seeded) -> None:
    async def main() -> None:
        async with (
            httpx2.AsyncClient(headers=AUTH) as http,
            Client(
                streamable_http_client(mcp_seeded.live.mcp, http_client=http), mode="2026-07-28"
            ) as client,
        ):
            names = [t.name for t in (await client.list_tools()).tools]
            assert names == [t.name for t in _listed()]
            result = await client.call_tool("get_decision", {"id": mcp_seeded.a})
            assert result.structured_content["found"] is True

    anyio.run(main)


def test_two_concurrent_clients(live: Live) -> None:
    per_client = 5

    async def work(token: str, label: str, out: dict[str, list[str]]) -> None:
        async with session(live.mcp, token) as s:
            for n in range(per_client):
                result = await s.call_tool(
                    "log_decision",
                    {"decision": f"{label} decision {n}", "confidence": 0.5, "category": "process"},
                )
                assert not result.is_error, result.content
                out[label].append(str(result.structured_content["id"]))
                assert len((await s.list_tools()).tools) == len(_listed())

    async def main() -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"first": [], "second": []}
        async with anyio.create_task_group() as tg:
            tg.start_soon(work, TOKEN, "first", out)
            tg.start_soon(work, OTHER_TOKEN, "second", out)
        return out

    out = anyio.run(main)
    for label, agent in (("first", "tester"), ("second", "other")):
        assert len(set(out[label])) == per_client
        for decision_id in out[label]:
            record = live.rpc("cstp.getDecision", {"id": decision_id})["result"]["decision"]
            assert record["recorded_by"] == agent and record["decision"].startswith(label)


def test_mcp_calls_are_counted_as_their_method(live: Live) -> None:
    async def main() -> None:
        async with session(live.mcp) as s:
            await s.call_tool("get_stats", {})

    anyio.run(main)
    metrics = httpx.get(live.url + "/metrics").text
    assert any(
        line.startswith("cstp_rpc_requests_total") and 'method="cstp.getCalibration"' in line
        for line in metrics.splitlines()
    ), metrics[:2000]


def test_agent_cards_list_the_mcp_interface(live: Live) -> None:
    names = [t.name for t in _listed()]
    card = httpx.get(live.url + "/.well-known/agent.json").json()
    assert card["capabilities"]["mcp"]["url"].endswith("/mcp")
    assert card["capabilities"]["mcp"]["tools"] == names
    a2a = httpx.get(live.url + "/.well-known/agent-card.json").json()
    (extension,) = a2a["capabilities"]["extensions"]
    assert extension["params"]["tools"] == names and extension["params"]["transport"] == "streamable-http"


def test_a_tool_call_logs_one_call_line_under_its_method(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="cstp")

    async def main() -> None:
        async with session(live.mcp) as s:
            await s.call_tool("get_stats", {})

    anyio.run(main)
    calls = [
        r
        for r in caplog.records
        if r.name == "cstp.rpc" and getattr(r, "method", None) == "cstp.getCalibration"
    ]
    assert len(calls) == 1 and getattr(calls[0], "outcome", None) == "ok"
    http = [r for r in caplog.records if r.name == "cstp.http" and r.levelno >= logging.INFO]
    assert all(getattr(r, "path", None) not in ("/mcp", "/mcp/") for r in http)  # the call line says it


def test_get_and_delete_are_405_after_the_token_check(live: Live) -> None:
    for method in ("GET", "DELETE"):
        assert httpx.request(method, live.mcp, headers=_ACCEPT, timeout=10).status_code == 401
        response = httpx.request(method, live.mcp, headers={**_ACCEPT, **AUTH}, timeout=10)
        assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_a_body_over_the_limit_is_413(live: Live) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + b"x" * 1_100_000 + b'"}}'
    response = httpx.post(live.mcp, content=body, headers={**_ACCEPT, **AUTH}, timeout=30)
    assert response.status_code == 413
