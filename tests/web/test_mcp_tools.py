"""The MCP tool table on its own: schemas, the argument mappings, the listed set, Origin matching."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from cstp.app import all_methods
from cstp.web.mcp.endpoint import origin_allowed
from cstp.web.mcp.tools import TOOLS, available

REFERENCE_TOOLS = [
    "query_decisions",
    "check_action",
    "log_decision",
    "review_outcome",
    "get_stats",
    "get_decision",
    "get_reason_stats",
    "update_decision",
    "record_thought",
    "pre_action",
    "get_session_context",
    "ready",
    "link_decisions",
    "get_graph",
    "get_neighbors",
    "get_circuit_state",
    "list_breakers",
]


def test_the_table_has_the_reference_tool_names_each_with_a_valid_object_schema() -> None:
    assert sorted(t.name for t in TOOLS) == sorted(REFERENCE_TOOLS)
    for tool in TOOLS:
        Draft202012Validator.check_schema(tool.input_schema)
        assert tool.input_schema["type"] == "object", tool.name
        assert tool.method.startswith("cstp."), tool.name
        for required in tool.input_schema.get("required", []):
            assert required in tool.input_schema["properties"], (tool.name, required)


def test_available_keeps_exactly_the_tools_whose_method_is_registered() -> None:
    registered = set(all_methods())
    assert [t.name for t in available(registered)] == [t.name for t in TOOLS if t.method in registered]
    assert available({"cstp.getDecision"}) == (next(t for t in TOOLS if t.name == "get_decision"),)
    assert available(set()) == ()


def test_arguments_map_to_the_methods_params() -> None:
    by_name = {t.name: t for t in TOOLS}
    assert by_name["check_action"].params({"description": "x", "stakes": "high", "extra": 1}) == {
        "action": {"description": "x", "stakes": "high"}
    }
    assert by_name["update_decision"].params({"id": "abc", "tags": ["t"], "confidence": 0.4}) == {
        "id": "abc",
        "updates": {"confidence": 0.4, "tags": ["t"]},
    }
    assert by_name["get_reason_stats"].params({"min_reviewed": 2, "filters": {"category": "process"}}) == {
        "minReviewed": 2,
        "filters": {"category": "process"},
    }
    assert by_name["pre_action"].params(
        {"action": {"description": "x"}, "options": {"query_limit": 3, "auto_record": False}}
    ) == {"action": {"description": "x"}, "options": {"queryLimit": 3, "autoRecord": False}}
    assert by_name["query_decisions"].params({"query": "q"}) == {
        "query": "q",
        "limit": 5,
        "retrieval_mode": "hybrid",
    }
    assert by_name["query_decisions"].params({"query": "q", "limit": 9}) == {
        "query": "q",
        "limit": 9,
        "retrieval_mode": "hybrid",
    }
    assert by_name["get_session_context"].params({}) == {"format": "markdown"}
    assert by_name["log_decision"].params({"decision": "d", "agent_id": "sub", "recorded_by": "x"}) == {
        "decision": "d",
        "agent_id": "sub",
    }


def test_list_breakers_adds_total() -> None:
    spec = next(t for t in TOOLS if t.name == "list_breakers")
    assert spec.shape({"breakers": [{"scope": "a"}, {"scope": "b"}]}) == {
        "breakers": [{"scope": "a"}, {"scope": "b"}],
        "total": 2,
    }


def test_read_only_annotations_follow_what_a_tool_changes() -> None:
    writes = {t.name for t in TOOLS if not t.read_only}
    assert writes == {
        "log_decision",
        "review_outcome",
        "update_decision",
        "record_thought",
        "pre_action",
        "link_decisions",
    }


@pytest.mark.parametrize(
    ("origin", "allowed", "ok"),
    [
        ("http://evil.example", (), False),
        ("http://evil.example", ("*",), True),
        ("https://app.example", ("https://app.example",), True),
        ("https://app.example/", ("https://app.example",), True),
        ("https://app.example.evil", ("https://app.example",), False),
        ("http://localhost:6274", ("http://localhost:*",), True),
        ("http://localhost", ("http://localhost:*",), False),
        ("http://localhost:80.evil", ("http://localhost:*",), False),
        ("http://localhost.evil:80", ("http://localhost:*",), False),
        ("null", ("http://localhost:*",), False),
    ],
)
def test_origin_matching(origin: str, allowed: tuple[str, ...], ok: bool) -> None:
    assert origin_allowed(origin, allowed) is ok
