"""The deliberation tracker's rows in Chroma: the `<prefix>-tracker` collection.

One item per `TrackerRow`, under the row's id, with the tiny hashed `record_vector` (rows are never
searched by vector). Living in the same database as the decisions, the rows are shared by every
server process on it. Metadata:

    ========== ===== ======================================================
    key        type  meaning
    ========== ===== ======================================================
    owner      str   the authenticated agent the row belongs to
    kind       str   "input" or "consumed"
    key        str   the tracker key (`rpc:<agent>`, `agent:<id>`, ...)
    created_us int   creation time, microseconds since the epoch
    expires_us int   expiry time, microseconds since the epoch
    payload    str   JSON of the row's payload
    ========== ===== ======================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection as ChromaCollection

from cstp.adapters.chroma.client import SideCollection, pages, rows
from cstp.adapters.chroma.errors import ChromaErrors
from cstp.adapters.chroma.schema import Metadata, Where, record_vector
from cstp.domain.facts import epoch_micros
from cstp.domain.tracker import Kind, TrackerRow

TRACKER = "tracker"
READ_PAGE = 2000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def row_metadata(row: TrackerRow) -> Metadata:
    return {
        "owner": row.owner,
        "kind": row.kind,
        "key": row.key,
        "created_us": epoch_micros(row.created_at),
        "expires_us": epoch_micros(row.expires_at),
        "payload": json.dumps(row.payload, separators=(",", ":"), default=str),
    }


def row_of(row_id: str, meta: dict[str, Any]) -> TrackerRow:
    return TrackerRow(
        id=row_id,
        owner=str(meta["owner"]),
        kind="consumed" if meta["kind"] == "consumed" else "input",
        key=str(meta["key"]),
        created_at=_from_micros(int(meta["created_us"])),
        expires_at=_from_micros(int(meta["expires_us"])),
        payload=json.loads(str(meta["payload"])),
    )


class ChromaTracker:
    """A `TrackerStore` on the client of a `ChromaStore` (opened by the store on first use).

    Thread safety: the handle is a `SideCollection` (locked); the rest is stateless.
    """

    def __init__(self, connect: Callable[[], ClientAPI], name: str, errors: ChromaErrors) -> None:
        self._errors = errors
        self._side = SideCollection(connect, name, errors, "tracker")

    def add(self, rows_: Sequence[TrackerRow]) -> None:
        if not rows_:
            return
        unique = list({r.id: r for r in rows_}.values())
        ids = [r.id for r in unique]
        vectors = np.asarray([record_vector(i) for i in ids], dtype=np.float32)
        collection = self._open()
        with self._errors.call("save tracker rows"):
            # Every key is always written, so upsert's metadata merge cannot leave stale keys.
            collection.upsert(ids=ids, embeddings=vectors, metadatas=[row_metadata(r) for r in unique])

    def rows(self, owner: str | None, kind: Kind, now: datetime) -> list[TrackerRow]:
        clauses: list[Where] = [{"kind": kind}, {"expires_us": {"$gt": epoch_micros(now)}}]
        if owner is not None:
            clauses.append({"owner": owner})
        return self._read({"$and": clauses})

    def expired(self, now: datetime) -> list[TrackerRow]:
        return self._read({"expires_us": {"$lte": epoch_micros(now)}})

    def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        collection = self._open()
        with self._errors.call("delete tracker rows"):
            collection.delete(ids=list(dict.fromkeys(ids)))

    def close(self) -> None:
        """Drop the handle; the store owns (and closes) the client."""
        self.forget()

    def forget(self) -> None:
        """Drop the handle (the collection was deleted, or the store closed); reopened on use."""
        self._side.forget()

    def _read(self, where: Where) -> list[TrackerRow]:
        collection = self._open()
        return [
            row_of(i, meta)
            for page in pages(self._errors, collection, where, ["metadatas"], READ_PAGE, "read tracker rows")
            for i, meta in rows(page)
        ]

    def _open(self) -> ChromaCollection:
        return self._side.open()
