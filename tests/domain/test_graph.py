"""GraphService on the memory store: what the wire tests cannot reach (the clock, edges written by
another tool that point at a decision this store does not hold)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cstp.adapters.memory_store import MemoryStore
from cstp.domain.decisions import DecisionService
from cstp.domain.edges import Edge
from cstp.domain.errors import DecisionNotFound
from cstp.domain.graph import GraphService, SelfLoop
from cstp.domain.records import DecisionDraft
from tests.fakes import HashEmbedder

NOW = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)


@pytest.fixture
def graph() -> tuple[GraphService, DecisionService, MemoryStore]:
    store = MemoryStore(HashEmbedder.space)
    decisions = DecisionService(store, HashEmbedder())
    return GraphService(store, decisions, clock=lambda: NOW), decisions, store


def _new(decisions: DecisionService, text: str) -> str:
    return decisions.record(
        DecisionDraft(decision=text, confidence=0.7, category="process"), "me"
    ).decision.id


def test_link_stamps_the_clock_and_the_agent_and_resolves_prefixes(
    graph: tuple[GraphService, DecisionService, MemoryStore],
) -> None:
    service, decisions, store = graph
    a, b = _new(decisions, "Pair on reviews"), _new(decisions, "Review within a day")
    edge = service.link(a[:6], b, "relates_to", 0.5, None, "agent-7")
    assert edge == Edge(a, b, "relates_to", 0.5, NOW, "agent-7", None)
    assert store.edges([a]) == [edge]
    with pytest.raises(SelfLoop):
        service.link(a[:6], a, "relates_to", 1.0, None, "agent-7")
    with pytest.raises(DecisionNotFound):
        service.link(a, "ffffffff", "relates_to", 1.0, None, "agent-7")


def test_edges_to_decisions_the_store_lacks_are_left_out(
    graph: tuple[GraphService, DecisionService, MemoryStore],
) -> None:
    service, decisions, store = graph
    a, b = _new(decisions, "Keep one repo"), _new(decisions, "Split the CI by path")
    store.save_edge(Edge(a, b, "depends_on", 1.0, NOW))
    store.save_edge(Edge(a, "gone0000", "relates_to", 2.0, NOW))  # e.g. imported from elsewhere
    sub = service.subgraph(a, 2, (), "both")
    assert sub is not None
    assert [n.decision.id for n in sub.nodes] == [a, b]
    assert [e.target for e in sub.edges] == [b]
    around = service.neighbors(a, "both", None, 20)
    assert around is not None
    assert [n.node.decision.id for n in around.neighbors] == [b]
