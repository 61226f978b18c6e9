"""An edge of the decision graph: a typed, weighted, directed link from one decision to another.

Edges are kept by the decision store (`DecisionStore.save_edge` / `edges`), so every process on
one database sees the same graph and it survives restarts. An edge is identified by
(source, target, type): at most one edge of each type per ordered pair, and saving it again
replaces weight, context and author (the reference's multigraph keyed by edge type does the same).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

EdgeType = Literal["relates_to", "supersedes", "depends_on"]
Direction = Literal["outgoing", "incoming", "both"]

EdgeKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Edge:
    """`source` → `target` of `type`, as linked by `created_by` at `created_at`."""

    source: str
    target: str
    type: str
    weight: float
    created_at: datetime
    created_by: str | None = None
    context: str | None = None

    @property
    def key(self) -> EdgeKey:
        """What identifies the edge: relinking the same key replaces it."""
        return (self.source, self.target, self.type)


# What `DecisionStore.edges` returns. Named because the stores define a method called `list`,
# which hides the builtin inside their class bodies.
EdgeList = list[Edge]


def touches(edge: Edge, node_ids: Collection[str], direction: Direction) -> bool:
    """Whether `edge` leaves (outgoing), enters (incoming) or touches (both) one of `node_ids`.

    The reference semantics of `DecisionStore.edges`; the memory store uses it directly.
    """
    leaves = edge.source in node_ids
    enters = edge.target in node_ids
    if direction == "outgoing":
        return leaves
    if direction == "incoming":
        return enters
    return leaves or enters
