"""Unknown params are accepted, and the result lists each one with the closest known name."""

from __future__ import annotations

from typing import Any

from tests.conftest import rpc


def test_a_misspelt_param_is_named_with_the_closest_known_name(client: Any) -> None:
    reply = rpc(client, "cstp.recordDecision", {"decision": "Use a queue", "confidance": 0.9, "zzz": 1})
    warnings = reply["result"]["warnings"]
    assert warnings[0] == {
        "code": "unknown_param",
        "param": "confidance",
        "message": "unknown param 'confidance' ignored; did you mean 'confidence'?",
        "suggestion": "confidence",
    }
    assert warnings[1]["param"] == "zzz" and "suggestion" not in warnings[1]


def test_known_names_and_aliases_give_no_warnings(client: Any) -> None:
    params = {"decision": "Use a queue", "confidence": 0.9, "reviewIn": "7d", "project_context": {}}
    reply = rpc(client, "cstp.recordDecision", params)
    assert "warnings" not in reply["result"]
    assert "warnings" not in rpc(client, "cstp.listDecisions", {"limit": 5})["result"]


def test_every_method_warns_the_same_way(client: Any) -> None:
    reply = rpc(client, "cstp.listDecisions", {"limt": 5})
    assert reply["result"]["warnings"][0]["suggestion"] == "limit"


def test_a_result_with_warnings_of_its_own_gets_param_warnings(client: Any) -> None:
    # checkGuardrails' result has a `warnings` list (rule findings); extra keys inside `action`
    # are read by design (merged into the evaluation context), a top-level extra is ignored.
    reply = rpc(
        client, "cstp.checkGuardrails", {"action": {"description": "deploy", "team": "x"}, "actoin": 1}
    )
    assert [w["param"] for w in reply["result"]["paramWarnings"]] == ["actoin"]
    assert reply["result"]["paramWarnings"][0]["suggestion"] == "action"
