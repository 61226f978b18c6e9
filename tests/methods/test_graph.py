"""linkDecisions, getGraph, getNeighbors: the shapes the dashboard and MCP tools read, and the walk."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import rpc


def _record(client: Any, text: str, **extra: Any) -> str:
    params = {"decision": text, "category": "architecture", "stakes": "high", "confidence": 0.8, **extra}
    reply = rpc(client, "cstp.recordDecision", params)
    return str(reply["result"]["id"])


def _link(client: Any, source: str, target: str, edge_type: str = "relates_to", **extra: Any) -> Any:
    params = {"sourceId": source, "targetId": target, "edgeType": edge_type, **extra}
    return rpc(client, "cstp.linkDecisions", params)


def _result(reply: Any) -> Any:
    assert "error" not in reply, reply
    return reply["result"]


@pytest.fixture
def chain(client: Any) -> list[str]:
    """a → b → c → d (relates_to, depends_on, supersedes)."""
    ids = [_record(client, f"Decision {name} about the storage layer") for name in "abcd"]
    for i, kind in enumerate(["relates_to", "depends_on", "supersedes"]):
        _result(_link(client, ids[i], ids[i + 1], kind))
    return ids


def test_link_returns_the_edge_with_its_author(client: Any) -> None:
    a, b = _record(client, "Use Postgres"), _record(client, "Use Alembic migrations")
    edge = _result(_link(client, a, b, "depends_on", weight=0.4, context="schema first"))["edge"]
    assert edge["sourceId"] == a and edge["targetId"] == b and edge["edgeType"] == "depends_on"
    assert edge["weight"] == 0.4 and edge["context"] == "schema first"
    assert edge["createdBy"] == "tester"  # the token's agent, never a caller-supplied name
    assert edge["createdAt"].startswith("20")
    # snake_case aliases, default weight 1.0, no context key when none was given
    plain = _result(
        rpc(client, "cstp.linkDecisions", {"source_id": b, "target_id": a, "edge_type": "relates_to"})
    )
    assert plain["success"] is True and plain["edge"]["weight"] == 1.0 and "context" not in plain["edge"]


def test_relinking_replaces_weight_and_context(client: Any) -> None:
    a, b = _record(client, "Cache reads"), _record(client, "Use Redis")
    _link(client, a, b, weight=0.2, context="old")
    _link(client, a, b, weight=0.9)
    result = _result(rpc(client, "cstp.getNeighbors", {"nodeId": a}))
    assert result["total"] == 1
    edge = result["neighbors"][0]["edge"]
    assert edge["weight"] == 0.9 and "context" not in edge


def test_linking_an_unknown_decision_fails_in_the_result_and_stores_nothing(client: Any) -> None:
    a = _record(client, "Keep the monolith")
    result = _result(_link(client, a, "ffffffff"))
    assert result == {"success": False, "error": "Decision not found: ffffffff"}
    assert _result(rpc(client, "cstp.getNeighbors", {"nodeId": a}))["total"] == 0


def test_self_loops_are_refused_even_through_a_prefix(client: Any) -> None:
    a = _record(client, "Ship weekly")
    for target in (a, a[:6]):
        reply = _link(client, a, target)
        assert reply["error"]["code"] == -32602
        assert "targetId" in reply["error"]["message"]


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("cstp.linkDecisions", {"targetId": "b1", "edgeType": "relates_to"}, "sourceId"),
        ("cstp.linkDecisions", {"sourceId": "a1", "targetId": "b1", "edgeType": "blocks"}, "edgeType"),
        (
            "cstp.linkDecisions",
            {"sourceId": "a1", "targetId": "b1", "edgeType": "relates_to", "weight": 0},
            "weight",
        ),
        (
            "cstp.linkDecisions",
            {"sourceId": "a1", "targetId": "b1", "edgeType": "relates_to", "weight": -1},
            "weight",
        ),
        (
            "cstp.linkDecisions",
            {"sourceId": "a1", "targetId": "b1", "edgeType": "relates_to", "weight": 101},
            "weight",
        ),
        (
            "cstp.linkDecisions",
            {"sourceId": "a1", "targetId": "b1", "edgeType": "relates_to", "weight": "x"},
            "weight",
        ),
        (
            "cstp.linkDecisions",
            {"sourceId": "a1", "targetId": "b1", "edgeType": "relates_to", "weight": True},
            "weight",
        ),
        (
            "cstp.linkDecisions",
            {"sourceId": "a/../1", "targetId": "b1", "edgeType": "relates_to"},
            "sourceId",
        ),
        ("cstp.getGraph", {}, "nodeId"),
        ("cstp.getGraph", {"nodeId": "a1", "depth": 0}, "depth"),
        ("cstp.getGraph", {"nodeId": "a1", "depth": 6}, "depth"),
        ("cstp.getGraph", {"nodeId": "a1", "depth": "deep"}, "depth"),
        ("cstp.getGraph", {"nodeId": "a1", "direction": "sideways"}, "direction"),
        ("cstp.getGraph", {"nodeId": "a1", "edgeTypes": ["blocks"]}, "edgeTypes"),
        ("cstp.getNeighbors", {"nodeId": "a1", "limit": 0}, "limit"),
        ("cstp.getNeighbors", {"nodeId": "a1", "limit": 101}, "limit"),
        ("cstp.getNeighbors", {"nodeId": "a1", "edgeType": "blocks"}, "edgeType"),
    ],
)
def test_bad_params_are_invalid_params_naming_the_field(
    client: Any, method: str, params: dict[str, Any], field: str
) -> None:
    error = rpc(client, method, params)["error"]
    assert error["code"] == -32602
    assert field in error["message"]


def test_neighbors_have_the_keys_the_dashboard_reads(client: Any) -> None:
    center = _record(client, "Adopt event sourcing for orders", tags=["events"], pattern="log first")
    out = _record(client, "Use Kafka as the event log")
    into = _record(client, "Replace the orders CRUD service")
    _link(client, center, out, "depends_on", weight=0.5)
    _link(client, into, center, "supersedes", weight=0.8)
    # What dashboard/app.py sends for /decisions/<id>
    result = _result(
        rpc(client, "cstp.getNeighbors", {"nodeId": center[:8], "direction": "both", "limit": 20})
    )
    assert result["nodeId"] == center and result["total"] == 2
    first, second = result["neighbors"]  # heaviest edge first
    assert first["node"]["id"] == into and second["node"]["id"] == out
    node = second["node"]
    assert node["summary"] == "Use Kafka as the event log"
    assert (node["category"], node["stakes"]) == ("architecture", "high")
    assert len(node["date"]) == 10 and node["inDegree"] == 1 and node["outDegree"] == 0
    assert first["edge"]["sourceId"] == into and first["edge"]["edgeType"] == "supersedes"
    assert first["edge"]["weight"] == 0.8


def test_neighbors_filter_by_direction_and_type_and_count_before_the_limit(
    client: Any, chain: list[str]
) -> None:
    a, b, c, _ = chain

    def neighbor_ids(**params: Any) -> tuple[list[str], int]:
        result = _result(rpc(client, "cstp.getNeighbors", {"nodeId": b, **params}))
        return [n["node"]["id"] for n in result["neighbors"]], result["total"]

    assert neighbor_ids(direction="outgoing") == ([c], 1)
    assert neighbor_ids(direction="incoming") == ([a], 1)
    assert sorted(neighbor_ids()[0]) == sorted([a, c])
    assert neighbor_ids(edgeType="relates_to") == ([a], 1)
    ids, total = neighbor_ids(limit=1)
    assert len(ids) == 1 and total == 2


def test_graph_walks_to_the_requested_depth(client: Any, chain: list[str]) -> None:
    a, b, c, d = chain

    def walk(node: str, **params: Any) -> tuple[list[str], set[tuple[str, str]]]:
        result = _result(rpc(client, "cstp.getGraph", {"nodeId": node, **params}))
        return [n["id"] for n in result["nodes"]], {(e["sourceId"], e["targetId"]) for e in result["edges"]}

    assert walk(a) == ([a, b], {(a, b)})  # depth 1 by default
    assert walk(a, depth=2) == ([a, b, c], {(a, b), (b, c)})
    assert walk(a, depth=5)[0] == [a, b, c, d]
    assert walk(d, depth=5, direction="outgoing") == ([d], set())
    assert walk(d, depth=5, direction="incoming")[0] == [d, c, b, a]
    assert walk(c, depth=5, edge_types=["depends_on"]) == ([c, b], {(b, c)})
    assert walk(a, depth=5, edgeTypes="relates_to")[0] == [a, b]  # one type may come as a string


def test_graph_nodes_carry_degrees_and_the_decision_keys(client: Any, chain: list[str]) -> None:
    a, b, *_ = chain
    result = _result(rpc(client, "cstp.getGraph", {"nodeId": b[:6], "depth": 1}))
    assert result["centerId"] == b and result["depth"] == 1
    center = result["nodes"][0]
    assert center["id"] == b and (center["inDegree"], center["outDegree"]) == (1, 1)
    assert center["confidence"] == 0.8 and center["summary"].startswith("Decision b")
    assert "outcome" not in center and "tags" not in center  # only what the decision has
    assert {e["edgeType"] for e in result["edges"]} == {"relates_to", "depends_on"}


def test_an_unknown_node_is_an_error_inside_the_result(client: Any) -> None:
    graph = _result(rpc(client, "cstp.getGraph", {"nodeId": "deadbeef", "depth": 2}))
    assert graph == {
        "centerId": "deadbeef",
        "depth": 2,
        "nodes": [],
        "edges": [],
        "error": "Node not found: deadbeef",
    }
    neighbors = _result(rpc(client, "cstp.getNeighbors", {"node_id": "deadbeef"}))
    assert neighbors == {
        "nodeId": "deadbeef",
        "neighbors": [],
        "total": 0,
        "error": "Node not found: deadbeef",
    }


def test_a_cycle_is_walked_once(client: Any) -> None:
    a, b, c = (_record(client, f"Cycle member {n}") for n in "abc")
    for source, target in ((a, b), (b, c), (c, a)):
        _link(client, source, target)
    result = _result(rpc(client, "cstp.getGraph", {"nodeId": a, "depth": 5}))
    assert sorted(n["id"] for n in result["nodes"]) == sorted([a, b, c])
    assert len(result["edges"]) == 3
    assert all((n["inDegree"], n["outDegree"]) == (1, 1) for n in result["nodes"])
