"""cstp.linkDecisions, cstp.getGraph, cstp.getNeighbors: the decision graph on the wire.

Shapes follow the reference (camelCase; a node's optional keys only when the decision has them).
An unknown node is reported inside the result (`error`), as the reference does and as the
dashboard, which isolates neighbour errors, expects; bad params are -32602 naming the field.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, field_validator

from cstp.domain.edges import Direction, Edge, EdgeType
from cstp.domain.errors import DecisionNotFound, InvalidInput, StoreUnavailable
from cstp.domain.graph import MAX_DEPTH, Node, SelfLoop
from cstp.domain.records import Decision
from cstp.methods.context import CallContext
from cstp.methods.wire import DecisionId, Int, Number, Params, Result, alias, day
from cstp.rpc.table import MethodSpec

# Weights are relative strengths: the reference's own links are 0..1 (its MCP tool caps them at 1),
# but its JSON-RPC method takes any positive number. 100 leaves room for other scales while
# refusing values that can only be mistakes (and inf/nan, which JSON cannot carry back).
MAX_WEIGHT = 100.0
SUMMARY_CHARS = 120


def _required(*names: str) -> Any:
    return Field(validation_alias=AliasChoices(*names))


class LinkParams(Params):
    source_id: DecisionId = _required("sourceId", "source_id")
    target_id: DecisionId = _required("targetId", "target_id")
    edge_type: EdgeType = _required("edgeType", "edge_type")
    weight: Number = Field(default=1.0, gt=0.0, le=MAX_WEIGHT, allow_inf_nan=False)
    context: str | None = Field(default=None, max_length=2000)


class GraphParams(Params):
    node_id: DecisionId = _required("nodeId", "node_id")
    depth: Int = Field(default=1, ge=1, le=MAX_DEPTH)
    edge_types: list[EdgeType] | None = alias("edgeTypes", "edge_types")
    direction: Direction = "both"

    @field_validator("edge_types", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class NeighborsParams(Params):
    node_id: DecisionId = _required("nodeId", "node_id")
    direction: Direction = "both"
    edge_type: EdgeType | None = alias("edgeType", "edge_type")
    limit: Int = Field(default=20, ge=1, le=100)


class EdgeOut(Result):
    source_id: str = Field(serialization_alias="sourceId")
    target_id: str = Field(serialization_alias="targetId")
    edge_type: str = Field(serialization_alias="edgeType")
    weight: float
    created_at: str | None = Field(default=None, serialization_alias="createdAt")
    created_by: str | None = Field(default=None, serialization_alias="createdBy")
    context: str | None = None


class NodeOut(Result):
    id: str
    category: str
    stakes: str
    date: str
    in_degree: int = Field(serialization_alias="inDegree")
    out_degree: int = Field(serialization_alias="outDegree")
    summary: str | None = None
    confidence: float | None = None
    outcome: str | None = None
    tags: list[str] | None = None
    pattern: str | None = None


class LinkResult(Result):
    success: bool
    edge: EdgeOut | None = None
    error: str | None = None


class GraphResult(Result):
    center_id: str = Field(serialization_alias="centerId")
    depth: int
    nodes: list[NodeOut]
    edges: list[EdgeOut]
    error: str | None = None


class NeighborOut(Result):
    node: NodeOut
    edge: EdgeOut


class NeighborsResult(Result):
    node_id: str = Field(serialization_alias="nodeId")
    neighbors: list[NeighborOut]
    total: int
    error: str | None = None


def edge_out(e: Edge) -> EdgeOut:
    out = EdgeOut(source_id=e.source, target_id=e.target, edge_type=e.type, weight=e.weight)
    out.created_at = e.created_at.isoformat()
    if e.created_by is not None:
        out.created_by = e.created_by
    if e.context is not None:
        out.context = e.context
    return out


def node_out(n: Node) -> NodeOut:
    d: Decision = n.decision
    out = NodeOut(
        id=d.id,
        category=d.category,
        stakes=d.stakes,
        date=day(d.date),
        in_degree=n.in_degree,
        out_degree=n.out_degree,
    )
    out.summary = d.decision[:SUMMARY_CHARS]
    out.confidence = d.confidence
    if d.outcome is not None:
        out.outcome = d.outcome
    if d.tags:
        out.tags = list(d.tags)
    if d.pattern is not None:
        out.pattern = d.pattern
    return out


def link_decisions(p: LinkParams, ctx: CallContext) -> LinkResult:
    if p.source_id == p.target_id:
        raise InvalidInput("targetId must differ from sourceId (no self-loops)", field="targetId")
    try:
        edge = ctx.services.graph.link(p.source_id, p.target_id, p.edge_type, p.weight, p.context, ctx.agent)
    except SelfLoop:
        raise InvalidInput(
            "sourceId and targetId name the same decision (no self-loops)", field="targetId"
        ) from None
    except DecisionNotFound as e:
        return LinkResult(success=False, error=str(e))
    return LinkResult(success=True, edge=edge_out(edge))


def get_graph(p: GraphParams, ctx: CallContext) -> GraphResult:
    found = ctx.services.graph.subgraph(p.node_id, p.depth, p.edge_types or (), p.direction)
    if found is None:
        return GraphResult(
            center_id=p.node_id, depth=p.depth, nodes=[], edges=[], error=f"Node not found: {p.node_id}"
        )
    return GraphResult(
        center_id=found.center.id,
        depth=p.depth,
        nodes=[node_out(n) for n in found.nodes],
        edges=[edge_out(e) for e in found.edges],
    )


def get_neighbors(p: NeighborsParams, ctx: CallContext) -> NeighborsResult:
    found = ctx.services.graph.neighbors(p.node_id, p.direction, p.edge_type, p.limit)
    if found is None:
        return NeighborsResult(node_id=p.node_id, neighbors=[], total=0, error=f"Node not found: {p.node_id}")
    return NeighborsResult(
        node_id=found.center.id,
        neighbors=[NeighborOut(node=node_out(n.node), edge=edge_out(n.edge)) for n in found.neighbors],
        total=found.total,
    )


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.linkDecisions",
        LinkParams,
        link_decisions,
        result=LinkResult,
        errors=(InvalidInput, StoreUnavailable),
        summary="Link two decisions with a typed, weighted edge (relinking replaces it)",
    ),
    MethodSpec(
        "cstp.getGraph",
        GraphParams,
        get_graph,
        result=GraphResult,
        errors=(InvalidInput, StoreUnavailable),
        summary="The subgraph around a decision, up to 5 hops, by edge type and direction",
    ),
    MethodSpec(
        "cstp.getNeighbors",
        NeighborsParams,
        get_neighbors,
        result=NeighborsResult,
        errors=(InvalidInput, StoreUnavailable),
        summary="The decisions one edge away from a decision, heaviest edge first",
    ),
)
