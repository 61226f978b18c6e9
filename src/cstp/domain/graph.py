"""GraphService: link decisions, walk the graph around one, list its neighbours.

Node ids may be prefixes (the dashboard sends `id[:8]`); every id is resolved through
`DecisionService.find`, and edges always hold full ids. Unlike the reference, linking checks that
both decisions exist, so the graph never points at nothing. The walk reads the store once per
level (the edges of the whole frontier), plus once for the degrees of the nodes it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from cstp.domain.decisions import DecisionService
from cstp.domain.edges import Direction, Edge, EdgeKey
from cstp.domain.errors import InvalidInput
from cstp.domain.ports import DecisionStore
from cstp.domain.records import Decision, utcnow

MAX_DEPTH = 5


class SelfLoop(InvalidInput):
    """Both ends of a link name the same decision (possibly through two different prefixes)."""


@dataclass(frozen=True, slots=True)
class Node:
    """A decision in a graph result, with its degrees over every edge type."""

    decision: Decision
    in_degree: int
    out_degree: int


@dataclass(frozen=True, slots=True)
class Subgraph:
    """The nodes reached from `center` (itself first, then by distance) and the edges walked."""

    center: Decision
    nodes: list[Node]
    edges: list[Edge]


@dataclass(frozen=True, slots=True)
class Neighbor:
    node: Node
    edge: Edge


@dataclass(frozen=True, slots=True)
class Neighbors:
    """Up to `limit` neighbours, heaviest edge first; `total` counts them before the limit."""

    center: Decision
    neighbors: list[Neighbor]
    total: int


class GraphService:
    """The decision-graph use cases over the store's edges.

    Thread safety: stateless besides its collaborators, which are thread-safe.
    """

    def __init__(
        self, store: DecisionStore, decisions: DecisionService, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._store = store
        self._decisions = decisions
        self._clock = clock

    def link(
        self, source_id: str, target_id: str, type: str, weight: float, context: str | None, agent: str
    ) -> Edge:
        """Save `source` → `target` of `type` as linked by `agent` now; relinking replaces it.

        Raises DecisionNotFound for an unknown end, SelfLoop when both ends are one decision.
        """
        source = self._decisions.get(source_id)
        target = self._decisions.get(target_id)
        if source.id == target.id:
            raise SelfLoop("a decision cannot be linked to itself")
        edge = Edge(source.id, target.id, type, weight, self._clock(), agent, context)
        self._store.save_edge(edge)
        return edge

    def subgraph(
        self, node_id: str, depth: int, types: Collection[str], direction: Direction
    ) -> Subgraph | None:
        """Breadth-first from `node_id` up to `depth` hops along edges of `types` (all when empty)
        in `direction`; None when no decision has that id."""
        center = self._decisions.find(node_id)
        if center is None:
            return None
        seen = {center.id}
        order = [center.id]
        frontier = [center.id]
        walked: dict[EdgeKey, Edge] = {}
        for _ in range(max(1, min(depth, MAX_DEPTH))):
            if not frontier:
                break
            level = set(frontier)
            reached: list[str] = []
            for edge in self._walkable(self._store.edges(level, direction), types):
                ends = _far_ends(edge, level, direction)
                if not ends:
                    continue
                walked.setdefault(edge.key, edge)
                for end in ends:
                    if end not in seen:
                        seen.add(end)
                        reached.append(end)
            order.extend(reached)
            frontier = reached
        nodes = self._nodes(order)
        present = {n.decision.id for n in nodes}
        edges = [e for e in walked.values() if e.source in present and e.target in present]
        return Subgraph(center, nodes, edges)

    def neighbors(self, node_id: str, direction: Direction, type: str | None, limit: int) -> Neighbors | None:
        """The decisions one edge away from `node_id`; None when no decision has that id."""
        center = self._decisions.find(node_id)
        if center is None:
            return None
        pairs: list[tuple[str, Edge]] = []
        for edge in self._walkable(self._store.edges([center.id], direction), [type] if type else []):
            pairs.extend((end, edge) for end in _far_ends(edge, {center.id}, direction))
        pairs.sort(key=lambda p: (-p[1].weight, p[0], p[1].type))
        shown = pairs[: max(0, limit)]  # only these are read; linking checked that all exist
        found = {n.decision.id: n for n in self._nodes(dict.fromkeys(end for end, _ in shown))}
        listed = [Neighbor(found[end], edge) for end, edge in shown if end in found]
        return Neighbors(center, listed, len(pairs))

    @staticmethod
    def _walkable(edges: Iterable[Edge], types: Collection[str]) -> list[Edge]:
        """Edges of `types` (all when empty), in a stable order (stores return them in any)."""
        return sorted((e for e in edges if not types or e.type in types), key=lambda e: e.key)

    def _nodes(self, ids: Iterable[str]) -> list[Node]:
        """Nodes for the decisions that exist among `ids`, in order, with their degrees."""
        decisions = [d for d in (self._store.get(i) for i in ids) if d is not None]
        if not decisions:
            return []
        incoming: dict[str, int] = {}
        outgoing: dict[str, int] = {}
        for edge in self._store.edges([d.id for d in decisions], "both"):
            outgoing[edge.source] = outgoing.get(edge.source, 0) + 1
            incoming[edge.target] = incoming.get(edge.target, 0) + 1
        return [Node(d, incoming.get(d.id, 0), outgoing.get(d.id, 0)) for d in decisions]


def _far_ends(edge: Edge, level: Collection[str], direction: Direction) -> list[str]:
    """The nodes `edge` leads to from `level` when walking in `direction`."""
    ends = []
    if direction in ("outgoing", "both") and edge.source in level:
        ends.append(edge.target)
    if direction in ("incoming", "both") and edge.target in level:
        ends.append(edge.source)
    return ends
