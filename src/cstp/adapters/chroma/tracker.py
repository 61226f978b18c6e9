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
    payload    str   JSON of the row's payload (rows up to COMPRESS_OVER bytes; else "")
    payload_z  str   the same JSON, zlib-compressed and base64-encoded (larger rows; else "")
    ========== ===== ======================================================

Why compress: the Chroma server's CPU per upsert grows with the bytes of metadata in it (measured
on `chroma run` 1.5.9: 8 ms for an item with no payload, 21 ms with 50 KB), and a packed row of
a hundred captured checks is about 32 KB of repetitive JSON that zlib at level 1 takes to 2 KB in
0.2 ms. Reads accept either key, so rows written before this change stay readable.
"""

from __future__ import annotations

import base64
import json
import zlib
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


COMPRESS_OVER = 512  # bytes of payload JSON above which it is stored compressed (`payload_z`)


def row_metadata(row: TrackerRow) -> Metadata:
    payload = json.dumps(row.payload, separators=(",", ":"), default=str)
    meta: Metadata = {
        "owner": row.owner,
        "kind": row.kind,
        "key": row.key,
        "created_us": epoch_micros(row.created_at),
        "expires_us": epoch_micros(row.expires_at),
    }
    # Both keys are always written (one of them empty), so upsert's metadata merge cannot leave
    # a stale one behind when a row id is written again in the other form.
    if len(payload) > COMPRESS_OVER:
        meta["payload"] = ""
        meta["payload_z"] = base64.b64encode(zlib.compress(payload.encode(), 1)).decode("ascii")
    else:
        meta["payload"] = payload
        meta["payload_z"] = ""
    return meta


def _payload(meta: dict[str, Any]) -> Any:
    if meta.get("payload_z"):
        return json.loads(zlib.decompress(base64.b64decode(str(meta["payload_z"]))))
    return json.loads(str(meta["payload"]))


def row_of(row_id: str, meta: dict[str, Any]) -> TrackerRow:
    return TrackerRow(
        id=row_id,
        owner=str(meta["owner"]),
        kind="consumed" if meta["kind"] == "consumed" else "input",
        key=str(meta["key"]),
        created_at=_from_micros(int(meta["created_us"])),
        expires_at=_from_micros(int(meta["expires_us"])),
        payload=_payload(meta),
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
