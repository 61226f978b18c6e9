"""The HTTP surface: health, readiness, agent cards, metrics, auth, body limit, envelope."""

from __future__ import annotations

import json
import os
import stat
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cstp import __version__
from cstp.app import all_methods, create_app
from tests.conftest import AUTH, rpc


def test_health_is_cheap_liveness_without_auth(client: Any) -> None:
    body = client.get("/health").json()
    assert body["status"] == "healthy"
    assert body["version"] == __version__
    assert isinstance(body["uptime_seconds"], float)
    assert body["timestamp"].endswith("+00:00")


def ready_after_index_check(client: Any) -> Any:
    """/ready once the start-up index check (a background thread) has finished."""
    deadline = time.monotonic() + 10
    while True:
        response = client.get("/ready")
        if response.json()["components"]["store"]["status"] != "NOT_READY" or time.monotonic() > deadline:
            return response
        time.sleep(0.01)


def test_ready_reports_every_component_ok(client: Any) -> None:
    response = ready_after_index_check(client)
    assert response.status_code == 200
    components = response.json()["components"]
    assert {k: v["status"] for k, v in components.items()} == {
        "store": "OK",
        "embedder": "OK",
        "guardrails": "OK",
    }


def test_ready_is_503_naming_the_store_when_it_fails(client: Any) -> None:
    client.app.state.adapters.store.close()
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["components"]["store"] == {"status": "ERROR", "error": "decision store unreachable"}
    assert "store" in body["error"] and "Traceback" not in response.text


def test_agent_card_lists_exactly_the_registered_methods(client: Any) -> None:
    response = client.get("/.well-known/agent.json")
    card = response.json()
    assert list(card) == ["name", "description", "version", "url", "capabilities", "authentication"]
    assert card["capabilities"]["cstp"]["methods"] == sorted(all_methods())
    assert card["authentication"] == {"schemes": ["bearer"]}
    assert response.headers["cache-control"].startswith("public")
    etag = response.headers["etag"]
    assert client.get("/.well-known/agent.json", headers={"If-None-Match": etag}).status_code == 304


def test_a2a_card_has_jsonrpc_interface_skills_and_bearer_scheme(client: Any) -> None:
    response = client.get("/.well-known/agent-card.json")
    card = response.json()
    interface = card["supportedInterfaces"][0]
    assert interface["protocolBinding"] == "JSONRPC" and interface["url"].endswith("/cstp")
    assert interface["protocolVersion"]
    assert sorted(s["id"] for s in card["skills"]) == sorted(all_methods())
    assert card["securitySchemes"]["bearer"]["httpAuthSecurityScheme"]["scheme"] == "Bearer"
    assert card["defaultInputModes"] == ["application/json"]
    assert response.headers["etag"]


def test_metrics_count_calls_by_method_and_outcome(client: Any) -> None:
    rpc(client, "cstp.listGuardrails", {})
    rpc(client, "cstp.nope", {})
    text = client.get("/metrics").text
    assert 'cstp_rpc_requests_total{method="cstp.listGuardrails",outcome="ok"} 1.0' in text
    assert 'cstp_rpc_requests_total{method="invalid",outcome="error-32601"} 1.0' in text
    assert "cstp_rpc_duration_seconds_bucket" in text
    assert "cstp_decisions " in text
    assert "cstp_embed_duration_seconds" in text
    assert f"cstp_process_id {float(os.getpid())}" in text  # which worker answered this scrape


def test_missing_token_is_401_with_bearer_challenge(client: Any) -> None:
    response = client.post("/cstp", json={"jsonrpc": "2.0", "method": "cstp.listGuardrails"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Authorization header required"}


def test_wrong_token_is_401(client: Any) -> None:
    response = client.post("/cstp", json={}, headers={"Authorization": "Bearer nope-nope-nope"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token: it matches none of the server's tokens"}


def test_wrong_scheme_is_401(client: Any) -> None:
    response = client.post("/cstp", json={}, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid authorization scheme, expected Bearer"}


@pytest.mark.parametrize("header", ["Bearer ", "Bearer    ", "bearer"])
def test_an_empty_bearer_token_is_named_as_such(client: Any, header: str) -> None:
    response = client.post("/cstp", json={}, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json() == {"detail": "Bearer token missing: send Authorization: Bearer <token>"}


def test_body_over_the_limit_is_413(app_factory: Any) -> None:
    with TestClient(app_factory(max_body_bytes=2048)) as c:
        big = {
            "jsonrpc": "2.0",
            "method": "cstp.recordDecision",
            "id": 1,
            "params": {"decision": "x" * 5000},
        }
        response = c.post("/cstp", json=big, headers=AUTH)
        assert response.status_code == 413
        assert "2048" in response.json()["detail"]


def test_json_rpc_errors_travel_on_http_200(client: Any) -> None:
    response = client.post("/cstp", content=b"{not json", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["error"]["code"] == -32700


def test_notification_gets_204_and_no_body(client: Any) -> None:
    response = client.post("/cstp", json={"jsonrpc": "2.0", "method": "cstp.listGuardrails"}, headers=AUTH)
    assert response.status_code == 204 and response.content == b""


def test_batch_over_http_mixes_results_and_errors(client: Any) -> None:
    batch = [
        {"jsonrpc": "2.0", "method": "cstp.listGuardrails", "id": 1},
        {"jsonrpc": "2.0", "method": "cstp.unknown", "id": 2},
        {"jsonrpc": "2.0", "method": "cstp.getDecision", "params": {"id": "../x"}, "id": 3},
        {"jsonrpc": "2.0", "method": "cstp.listGuardrails"},
    ]
    replies = client.post("/cstp", json=batch, headers=AUTH).json()
    assert [r["id"] for r in replies] == [1, 2, 3]
    assert "result" in replies[0]
    assert replies[1]["error"]["code"] == -32601
    assert replies[2]["error"]["code"] == -32602


def test_request_id_is_echoed_or_generated(client: Any) -> None:
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert len(client.get("/health").headers["x-request-id"]) == 16


def test_generated_token_is_kept_private_and_reused(
    settings_factory: Any, make_adapters: Any, capsys: Any
) -> None:
    settings = settings_factory(auth_tokens=None)
    with TestClient(create_app(settings, adapters=make_adapters())) as c:
        token = settings.token_file.read_text().strip()
        assert stat.S_IMODE(os.stat(settings.token_file).st_mode) == 0o600
        assert token in capsys.readouterr().err
        reply = c.post(
            "/cstp",
            json={"jsonrpc": "2.0", "method": "cstp.listGuardrails", "id": 1},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert "result" in reply.json()
        assert c.post("/cstp", json={}).status_code == 401
    with TestClient(create_app(settings, adapters=make_adapters())):
        assert token not in capsys.readouterr().err  # printed once, on first start only
    assert settings.token_file.read_text().strip() == token


def test_malformed_input_never_gets_a_500(client: Any) -> None:
    bodies: list[bytes] = [
        b"",
        b"null",
        b"[]",
        b"[[]]",
        b'"x"',
        b"1e999999",
        b'{"jsonrpc":"2.0","method":null}',
        b'{"jsonrpc":"2.0","method":"cstp.recordDecision","params":{"decision":{}},"id":1}',
        json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "cstp.queryDecisions",
                "id": 1,
                "params": {"limit": "ten", "filters": "x"},
            }
        ).encode(),
        b"\x00\x01\x02",
        b"[" * 200_000 + b"]" * 200_000,
        '{"a":"\ud800"}'.encode("utf-8", "surrogatepass"),
    ]
    for body in bodies:
        response = client.post("/cstp", content=body, headers=AUTH)
        assert response.status_code in (200, 204), body
        assert "Traceback" not in response.text


def test_broken_guardrail_edit_keeps_last_good_rules_and_shows_in_ready(
    tmp_path: Any, app_factory: Any
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    good = "- id: no-fridays\n  condition_friday: true\n  action: block\n  message: not today\n"
    (rules / "friday.yaml").write_text(good)
    with TestClient(app_factory(guardrails_paths=str(rules))) as c:
        action = {"action": {"description": "deploy", "friday": True}}
        assert rpc(c, "cstp.checkGuardrails", action)["result"]["allowed"] is False
        (rules / "friday.yaml").write_text("- id: no-fridays\n  condition: 'action.friday =='\n")
        assert c.app.state.services.guardrails.reload() is False
        ready = c.get("/ready")
        assert ready.status_code == 200
        error = ready.json()["components"]["guardrails"]["last_error"]
        assert error["rule_id"] == "no-fridays" and error["code"]
        assert str(rules) not in ready.text and "friday.yaml" not in ready.text  # no path on an open route
        assert rpc(c, "cstp.checkGuardrails", action)["result"]["allowed"] is False
