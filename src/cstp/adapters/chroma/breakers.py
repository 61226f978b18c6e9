"""The circuit breakers' event log in Chroma: the `<prefix>-breakers` collection.

One item per `BreakerEvent`, under the event's id (unique, or deterministic where a repeat must
replace an earlier event). Every item has the same four metadata keys, so a plain upsert replaces
an event whole. Like edges, items get the tiny hashed `record_vector` of their id: the log is
never searched by vector. Metadata:

    ====== ===== =====================================================
    key    type  meaning
    ====== ===== =====================================================
    scope  str   BreakerEvent.scope (the breaker's configured scope)
    kind   str   failure | success | reset | probe | snapshot
    at_ms  int   BreakerEvent.at_ms, epoch milliseconds
    data   str   BreakerEvent.data, JSON text
    ====== ===== =====================================================

A refresh reads the events of the configured scopes with one `where scope $in [...]` (paged).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, cast

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection as ChromaCollection

from cstp.adapters.chroma.client import SideCollection, pages, rows
from cstp.adapters.chroma.errors import ChromaErrors
from cstp.adapters.chroma.schema import Metadata, Where, record_vector
from cstp.domain.breakers.state import BreakerEvent, Kind

BREAKERS = "breakers"
READ_PAGE = 2000
SCOPE_CHUNK = 200  # scopes per `$in` list


def event_metadata(event: BreakerEvent) -> Metadata:
    return {"scope": event.scope, "kind": event.kind, "at_ms": event.at_ms, "data": event.data}


def event_from_metadata(event_id: str, meta: dict[str, Any]) -> BreakerEvent:
    return BreakerEvent(
        id=event_id,
        scope=str(meta["scope"]),
        kind=cast(Kind, str(meta["kind"])),
        at_ms=int(meta["at_ms"]),
        data=str(meta.get("data") or "{}"),
    )


class ChromaBreakers:
    """A `BreakerStore` on the breaker collection of one `ChromaStore` (opened on first use).

    Thread safety: the handle is a `SideCollection` (locked); the rest is stateless.
    """

    def __init__(self, connect: Callable[[], ClientAPI], name: str, errors: ChromaErrors) -> None:
        self._errors = errors
        self._side = SideCollection(connect, name, errors, "breaker events")

    def append(self, events: Sequence[BreakerEvent]) -> None:
        if not events:
            return
        ids = [e.id for e in events]
        vectors = np.asarray([record_vector(i) for i in ids], dtype=np.float32)
        metadatas = [event_metadata(e) for e in events]
        collection = self._open()
        with self._errors.call("write breaker events"):
            collection.upsert(ids=ids, embeddings=vectors, metadatas=metadatas)  # type: ignore[arg-type]

    def insert_if_absent(self, event: BreakerEvent) -> BreakerEvent:
        """Chroma's `add` skips an id that is already stored (upsert would overwrite), so the
        first of several concurrent writers wins; the stored item is read back."""
        vectors = np.asarray([record_vector(event.id)], dtype=np.float32)
        collection = self._open()
        with self._errors.call("claim a breaker probe"):
            collection.add(ids=[event.id], embeddings=vectors, metadatas=[event_metadata(event)])
            stored = collection.get(ids=[event.id], include=["metadatas"])
        found = [event_from_metadata(i, m) for i, m in rows(stored)]
        return found[0] if found else event

    def events(self, scopes: Collection[str]) -> list[BreakerEvent]:
        wanted = sorted(set(scopes))
        if not wanted:
            return []
        collection = self._open()
        found: list[BreakerEvent] = []
        for start in range(0, len(wanted), SCOPE_CHUNK):
            chunk = wanted[start : start + SCOPE_CHUNK]
            where: Where = {"scope": {"$in": chunk}} if len(chunk) > 1 else {"scope": chunk[0]}
            read = pages(self._errors, collection, where, ["metadatas"], READ_PAGE, "read breaker events")
            for page in read:
                found.extend(event_from_metadata(i, m) for i, m in rows(page))
        return found

    def delete(self, event_ids: Collection[str]) -> None:
        ids = list(event_ids)
        if not ids:
            return
        collection = self._open()
        with self._errors.call("delete breaker events"):
            collection.delete(ids=ids)

    def forget(self) -> None:
        """Drop the handle (the collection was deleted, or the store closed); reopened on use."""
        self._side.forget()

    def _open(self) -> ChromaCollection:
        return self._side.open()
