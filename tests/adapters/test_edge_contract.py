"""The edge half of the DecisionStore contract, on memory, embedded Chroma and a Chroma server.

`edges.touches` is the reference semantics of `DecisionStore.edges`; the direction cases check
their expected keys against it, so a wrong expectation cannot pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cstp.adapters.chroma.store import ChromaStore
from cstp.domain.edges import Direction, Edge, touches
from cstp.domain.errors import ConfigError, StoreUnavailable
from cstp.domain.ports import DecisionStore
from tests.adapters.test_store_contract import OTHER_SPACE, Backend, backend, store

__all__ = ["backend", "store"]  # the fixtures, re-used from the record contract

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _edge(source: str, target: str, type: str = "relates_to", **kw: object) -> Edge:
    values: dict[str, object] = {"weight": 1.0, "created_at": T0, "created_by": "tester"}
    values.update(kw)
    return Edge(source, target, type, **values)  # type: ignore[arg-type]


GRAPH = [
    _edge("a", "b"),
    _edge("a", "b", "depends_on", weight=0.5),
    _edge("b", "c", "supersedes"),
    _edge("c", "a"),
    _edge("d", "e"),
]


def _keys(edges: list[Edge]) -> set[tuple[str, str, str]]:
    return {e.key for e in edges}


def test_an_edge_round_trips_with_every_field(store: DecisionStore) -> None:
    edge = _edge("s1", "t1", "depends_on", weight=0.25, context="needs the schema", created_by="agent-x")
    store.save_edge(edge)
    assert store.edges(["s1"]) == [edge]
    bare = Edge("s2", "t2", "relates_to", 2.0, T0)  # no author, no context
    store.save_edge(bare)
    assert store.edges(["t2"]) == [bare]


def test_relinking_the_same_key_replaces_it(store: DecisionStore) -> None:
    store.save_edge(_edge("a", "b", weight=0.3, context="first"))
    later = _edge("a", "b", weight=0.9, created_at=T0 + timedelta(hours=1), created_by="other")
    store.save_edge(later)  # no context now: the old one must not survive
    assert store.edges(["a"]) == [later]
    store.save_edge(_edge("a", "b", "supersedes"))  # another type is another edge
    assert _keys(store.edges(["a"])) == {("a", "b", "relates_to"), ("a", "b", "supersedes")}


@pytest.mark.parametrize(
    ("nodes", "direction", "expected"),
    [
        (["a"], "outgoing", {("a", "b", "relates_to"), ("a", "b", "depends_on")}),
        (["a"], "incoming", {("c", "a", "relates_to")}),
        (["a"], "both", {("a", "b", "relates_to"), ("a", "b", "depends_on"), ("c", "a", "relates_to")}),
        (
            ["b", "c"],
            "both",
            {
                ("a", "b", "relates_to"),
                ("a", "b", "depends_on"),
                ("b", "c", "supersedes"),
                ("c", "a", "relates_to"),
            },
        ),
        (["e"], "outgoing", set()),
        (["zzz"], "both", set()),
        ([], "both", set()),
    ],
)
def test_edges_select_by_node_and_direction(
    store: DecisionStore, nodes: list[str], direction: Direction, expected: set[tuple[str, str, str]]
) -> None:
    assert expected == {e.key for e in GRAPH if touches(e, nodes, direction)}  # the oracle agrees
    for edge in GRAPH:
        store.save_edge(edge)
    found = store.edges(nodes, direction)
    assert _keys(found) == expected
    assert len(found) == len(expected)  # an edge touching two of the nodes comes once


def test_a_second_store_on_the_same_backend_sees_the_edges(backend: Backend, store: DecisionStore) -> None:
    # Another process (or another embedding space) opened on the same database.
    store.save_edge(_edge("p", "q", context="from the first process"))
    other = backend.open(OTHER_SPACE)
    assert _keys(other.edges(["p"])) == {("p", "q", "relates_to")}
    other.save_edge(_edge("q", "r", "depends_on"))
    assert _keys(store.edges(["q"])) == {("p", "q", "relates_to"), ("q", "r", "depends_on")}


def test_edges_survive_reopening_and_an_index_reset(backend: Backend, store: DecisionStore) -> None:
    store.save_edge(_edge("x", "y"))
    store.reset_index()  # edges are not part of any embedding space's index
    store.close()
    assert _keys(backend.open().edges(["y"], "incoming")) == {("x", "y", "relates_to")}


def test_a_closed_store_refuses_edge_calls(store: DecisionStore) -> None:
    store.close()
    with pytest.raises(StoreUnavailable):
        store.save_edge(_edge("a", "b"))
    with pytest.raises(StoreUnavailable):
        store.edges(["a"])


def test_a_space_named_edges_is_refused_on_chroma(tmp_path: Path) -> None:
    # `<prefix>-edges` holds the graph; an index of that name would overwrite it.
    with pytest.raises(ConfigError, match="reserved"):
        ChromaStore.embedded(tmp_path, prefix="cstp", space="edges")
