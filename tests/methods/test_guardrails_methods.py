"""checkGuardrails and listGuardrails over JSON-RPC, plus record-phase warnings.

The wire-shape tests run the real pipeline (`dispatch` with the group's method table) on a
GuardrailService built from inline rules; the others go through the whole app over HTTP.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cstp.domain.guardrails import ActionContext, GuardrailService
from cstp.methods.guardrails import METHODS, guardrail_warnings
from cstp.rpc.dispatch import dispatch
from cstp.rpc.table import method_table
from tests.conftest import rpc

RULES = """
- id: critical-needs-rollback
  description: Critical changes must name a rollback plan
  condition_stakes: critical
  requires_rollback_plan: true
  action: block
  message: "Critical {category} change blocked: set rollback_plan=true"
- id: shaky-security-change
  description: Warn on low-confidence security work
  condition: "action.category == 'security' && action.confidence < 0.7"
  action: warn
  message: "Security change at confidence {confidence}; get a second reviewer"
- id: billing-freeze
  description: Billing is frozen
  scope: [billing]
  condition_stakes: high
  action: block
  message: Billing freeze
"""


@pytest.fixture
def guarded(tmp_path: Path, app_factory: Any) -> Any:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "ops.yaml").write_text(RULES)
    with TestClient(app_factory(guardrails_paths=str(rules))) as c:
        yield c


def check(client: Any, **action: Any) -> dict[str, Any]:
    reply = rpc(client, "cstp.checkGuardrails", {"action": action})
    assert "result" in reply, reply
    return reply["result"]  # type: ignore[no-any-return]


def test_block_rule_denies_with_a_camel_case_violation(guarded: Any) -> None:
    result = check(
        guarded,
        description="Drop the users table",
        category="architecture",
        stakes="critical",
        confidence=0.9,
    )
    assert result["allowed"] is False
    v = result["violations"][0]
    assert v["guardrailId"] == "critical-needs-rollback"
    assert v["name"] == "Critical changes must name a rollback plan"
    assert v["message"] == "Critical architecture change blocked: set rollback_plan=true"
    assert v["severity"] == "block"
    assert set(result) == {"allowed", "violations", "warnings", "evaluated", "evaluatedAt", "agent"}


def test_extra_action_keys_satisfy_requirements(guarded: Any) -> None:
    top = check(guarded, description="x", stakes="critical", confidence=0.9, rollback_plan=True)
    nested = check(
        guarded, description="x", stakes="critical", confidence=0.9, context={"rollback_plan": True}
    )
    assert top["allowed"] is True and nested["allowed"] is True


def test_warn_rule_keeps_allowed_and_fills_placeholders(guarded: Any) -> None:
    result = check(guarded, description="Rotate keys", category="security", confidence=0.5)
    assert result["allowed"] is True
    warning = next(w for w in result["warnings"] if w["guardrailId"] == "shaky-security-change")
    assert warning["severity"] == "warn"
    assert warning["message"] == "Security change at confidence 0.5; get a second reviewer"


def test_scoped_rule_applies_only_to_its_project(guarded: Any) -> None:
    other = check(guarded, description="x", stakes="high", confidence=0.9, project="web")
    billing = check(guarded, description="x", stakes="high", confidence=0.9, project="billing")
    assert "billing-freeze" not in [v["guardrailId"] for v in other["violations"]]
    assert "billing-freeze" in [v["guardrailId"] for v in billing["violations"]]


def test_packaged_rule_blocks_high_stakes_at_low_confidence(client: Any) -> None:
    result = check(client, description="Ship it", category="process", stakes="high", confidence=0.3)
    assert [v["guardrailId"] for v in result["violations"]] == ["no-high-stakes-low-confidence"]
    assert result["evaluated"] >= 1


def test_missing_action_and_description_are_invalid_params(guarded: Any) -> None:
    assert "action" in rpc(guarded, "cstp.checkGuardrails", {})["error"]["message"]
    error = rpc(guarded, "cstp.checkGuardrails", {"action": {"stakes": "low"}})["error"]
    assert error["code"] == -32602 and "description" in error["message"]


def test_every_check_writes_one_audit_line_without_the_token(
    guarded: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="cstp.guardrails.audit"):
        check(guarded, description="x", stakes="critical", confidence=0.9)
    lines = [r for r in caplog.records if r.name == "cstp.guardrails.audit"]
    assert len(lines) == 1
    entry = json.loads(lines[0].getMessage())
    assert entry["agent"] == "tester" and entry["allowed"] is False
    assert "test-token" not in lines[0].getMessage()


def test_list_guardrails_shape_and_scope_filter(guarded: Any) -> None:
    result = rpc(guarded, "cstp.listGuardrails", {})["result"]
    by_id = {g["id"]: g for g in result["guardrails"]}
    assert result["count"] == len(result["guardrails"])
    rollback = by_id["critical-needs-rollback"]
    assert rollback["action"] == "block" and rollback["scope"] == []
    assert rollback["conditions"] == [{"field": "stakes", "operator": "==", "value": "critical"}]
    assert rollback["requirements"] == [{"field": "rollback_plan", "expected": True}]
    assert by_id["shaky-security-change"]["conditions"] == []
    scoped = {g["id"] for g in rpc(guarded, "cstp.listGuardrails", {"scope": "web"})["result"]["guardrails"]}
    assert "billing-freeze" not in scoped and "critical-needs-rollback" in scoped


def test_record_phase_rules_warn_but_never_block(client: Any) -> None:
    result = rpc(client, "cstp.recordDecision", {"decision": "Go", "stakes": "critical", "confidence": 0.1})[
        "result"
    ]
    assert result["success"] is True
    ids = [w["guardrail_id"] for w in result["guardrail_warnings"]]
    assert "record-high-stakes-without-reasons" in ids


def service_with(tmp_path: Path, rules: list[dict[str, Any]]) -> GuardrailService:
    (tmp_path / "rules.yaml").write_text(json.dumps(rules))  # JSON is YAML
    return GuardrailService([tmp_path], include_packaged=False)


def call(service: GuardrailService, method: str, params: dict[str, Any]) -> Any:
    """One request through the JSON-RPC pipeline, as the server sends it (bytes decoded)."""
    ctx = SimpleNamespace(
        agent="tester", request_id="r1", services=SimpleNamespace(guardrails=service, agent_name="cstp")
    )
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    reply = dispatch(body, method_table(METHODS), ctx)
    assert reply is not None
    return json.loads(reply)["result"]


def test_check_result_is_camel_case_in_a_fixed_key_order(tmp_path: Path) -> None:
    service = service_with(
        tmp_path,
        [
            {"id": "b", "description": "Blocker", "action": "block", "message": "no", "suggestion": "wait"},
            {"id": "w", "message": "hm"},
        ],
    )
    result = call(service, "cstp.checkGuardrails", {"action": {"description": "d"}})
    assert list(result) == ["allowed", "violations", "warnings", "evaluated", "evaluatedAt", "agent"]
    assert isinstance(result.pop("evaluatedAt"), str)
    assert result == {
        "allowed": False,
        "violations": [
            {
                "guardrailId": "b",
                "name": "Blocker",
                "message": "no",
                "severity": "block",
                "suggestion": "wait",
            }
        ],
        "warnings": [{"guardrailId": "w", "name": "w", "message": "hm", "severity": "warn"}],
        "evaluated": 2,
        "agent": "cstp",
    }


def test_check_with_no_rules_allows_with_empty_lists(tmp_path: Path) -> None:
    result = call(service_with(tmp_path, []), "cstp.checkGuardrails", {"action": {"description": "d"}})
    del result["evaluatedAt"]
    assert result == {"allowed": True, "violations": [], "warnings": [], "evaluated": 0, "agent": "cstp"}


def test_listing_shape_of_a_flat_rule(tmp_path: Path) -> None:
    rule = {
        "id": "r",
        "description": "d",
        "action": "block",
        "scope": "P",
        "condition_stakes": "high",
        "condition_confidence": "< 0.5",
        "requires_code_review": True,
        "message": "secret {x}",
    }
    result = call(service_with(tmp_path, [rule]), "cstp.listGuardrails", {})
    assert result == {
        "guardrails": [
            {
                "id": "r",
                "description": "d",
                "action": "block",
                "scope": ["P"],
                "conditions": [
                    {"field": "stakes", "operator": "==", "value": "high"},
                    {"field": "confidence", "operator": "<", "value": 0.5},
                ],
                "requirements": [{"field": "code_review", "expected": True}],
            }
        ],
        "count": 1,
        "agent": "cstp",
    }


def test_listing_hides_cel_and_messages(tmp_path: Path) -> None:
    rule = {"id": "r", "condition": "action.stakes == 'high'", "message": "m"}
    listing = call(service_with(tmp_path, [rule]), "cstp.listGuardrails", {})["guardrails"][0]
    assert listing["conditions"] == []
    assert "message" not in listing
    assert "action.stakes" not in str(listing)


def test_record_warnings_are_snake_case_and_include_blocking_rules(tmp_path: Path) -> None:
    service = service_with(tmp_path, [{"id": "b", "action": "block"}, {"id": "w", "message": "m"}])
    action = ActionContext.for_record(
        description="d", category="process", stakes="high", confidence=0.3, quality_score=0.4
    )
    assert [w.model_dump() for w in guardrail_warnings(service.check_record(action, "tester"))] == [
        {"guardrail_id": "b", "message": "Guardrail b triggered", "severity": "block"},
        {"guardrail_id": "w", "message": "m", "severity": "warn"},
    ]
