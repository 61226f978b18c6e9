"""The decision graph's edges in Chroma: the `<prefix>-edges` collection.

One item per edge, with a deterministic id `<source>><type>><target>` (decision ids never contain
`>`), so relinking the same (source, target, type) upserts the same item. Chroma needs a vector
per item; edges are never searched by vector, so each gets the tiny hashed `record_vector` of its
id, independent of any embedding model. Metadata:

    ========== ===== ======================================================
    key        type  meaning
    ========== ===== ======================================================
    source     str   Edge.source (a decision id)
    target     str   Edge.target (a decision id)
    type       str   Edge.type
    weight     float Edge.weight
    created_at str   Edge.created_at, ISO 8601 with its zone
    created_by str   Edge.created_by (omitted when None)
    context    str   Edge.context    (omitted when None)
    ========== ===== ======================================================

Edges of a set of nodes are read with `where` on `source` / `target` via `$in`, in chunks (one
`$in` list stays small) and pages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection as ChromaCollection

from cstp.adapters.chroma.client import SideCollection, pages, rows, upsert_replacing
from cstp.adapters.chroma.errors import ChromaErrors
from cstp.adapters.chroma.schema import Metadata, Where, record_vector
from cstp.domain.edges import Direction, Edge

EDGES = "edges"
ID_CHUNK = 500  # node ids per `$in` list
READ_PAGE = 2000


def edge_id(edge: Edge) -> str:
    """The item id of an edge: one per (source, target, type)."""
    return f"{edge.source}>{edge.type}>{edge.target}"


def edge_metadata(edge: Edge) -> Metadata:
    """The metadata stored with `edge` (layout in the module docstring)."""
    meta: Metadata = {
        "source": edge.source,
        "target": edge.target,
        "type": edge.type,
        "weight": float(edge.weight),
        "created_at": edge.created_at.isoformat(),
    }
    if edge.created_by is not None:
        meta["created_by"] = edge.created_by
    if edge.context is not None:
        meta["context"] = edge.context
    return meta


def edge_from_metadata(meta: dict[str, Any]) -> Edge:
    """Rebuild the edge written by `edge_metadata`."""
    return Edge(
        source=str(meta["source"]),
        target=str(meta["target"]),
        type=str(meta["type"]),
        weight=float(meta["weight"]),
        created_at=datetime.fromisoformat(str(meta["created_at"])),
        created_by=meta.get("created_by"),
        context=meta.get("context"),
    )


def where_touching(node_ids: list[str], direction: Direction) -> Where:
    """The `where` selecting edges that leave, enter or touch one of `node_ids` (non-empty)."""
    leaving: Where = {"source": {"$in": node_ids}}
    entering: Where = {"target": {"$in": node_ids}}
    if direction == "outgoing":
        return leaving
    if direction == "incoming":
        return entering
    return {"$or": [leaving, entering]}


class ChromaEdges:
    """The edge collection of one `ChromaStore`, opened on the store's client on first use.

    Thread safety: the handle is a `SideCollection` (locked); the rest is stateless.
    """

    def __init__(self, connect: Callable[[], ClientAPI], name: str, errors: ChromaErrors) -> None:
        """`connect` returns the store's open client (raising StoreUnavailable once closed)."""
        self._errors = errors
        self._side = SideCollection(connect, name, errors, "edges")

    def save(self, edge: Edge) -> None:
        """Upsert the edge, replacing the metadata of an earlier link of the same key."""
        ids = [edge_id(edge)]
        vectors = np.asarray([record_vector(ids[0])], dtype=np.float32)
        upsert_replacing(self._errors, self._open(), ids, vectors, [edge_metadata(edge)], "save an edge")

    def touching(self, node_ids: Iterable[str], direction: Direction) -> list[Edge]:
        """Every edge touching `node_ids` in `direction`; an edge is returned once."""
        collection = self._open()
        ids = sorted(set(node_ids))
        found: dict[str, Edge] = {}
        for start in range(0, len(ids), ID_CHUNK):
            where = where_touching(ids[start : start + ID_CHUNK], direction)
            for item_id, meta in self._read(collection, where):
                found[item_id] = edge_from_metadata(meta)
        return list(found.values())

    def forget(self) -> None:
        """Drop the handle (the collection was deleted, or the store closed); reopened on use."""
        self._side.forget()

    def _open(self) -> ChromaCollection:
        return self._side.open()

    def _read(self, collection: ChromaCollection, where: Where) -> Iterator[tuple[str, dict[str, Any]]]:
        for page in pages(self._errors, collection, where, ["metadatas"], READ_PAGE, "read edges"):
            yield from rows(page)
