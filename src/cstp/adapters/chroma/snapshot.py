"""`Snapshots` on Chroma: every `<prefix>-*` collection of the deployment, read and written raw.

Items are copied with their stored vectors (float32, as Chroma keeps them), metadata and
documents, so a restored index answers queries exactly as the original did. Collections are found
by name prefix, so one added by a later feature is included without a change here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from chromadb.api import ClientAPI

from cstp.adapters.chroma.client import collection_name, explicit_vectors_only
from cstp.adapters.chroma.errors import ChromaErrors
from cstp.adapters.chroma.schema import RECORD_KEY, WRITTEN_KEY
from cstp.domain.errors import InvalidInput
from cstp.domain.snapshot import CollectionInfo, RawItem


class ChromaSnapshots:
    """Raw collection access for one `ChromaStore` (built by `ChromaStore.snapshots`).

    Thread safety: stateless; Chroma's clients are thread-safe.
    """

    def __init__(
        self,
        connect: Callable[[], ClientAPI],
        prefix: str,
        errors: ChromaErrors,
        on_write: Callable[[], None],
    ) -> None:
        """`on_write` runs after every write (the store bumps its revision and forgets caches)."""
        self._connect = connect
        self._prefix = prefix + "-"
        self._errors = errors
        self._on_write = on_write

    def collections(self) -> list[CollectionInfo]:
        """Every collection named `<prefix>-<kind>`."""
        client = self._connect()
        with self._errors.call("list collections"):
            found = [c for c in client.list_collections() if c.name.startswith(self._prefix)]
            return [
                CollectionInfo(
                    c.name[len(self._prefix) :], dict(c.metadata) if c.metadata else None, c.count()
                )
                for c in found
            ]

    def read(self, kind: str, offset: int, limit: int) -> list[RawItem]:
        """One page of items with vectors, metadata and documents, in insertion order."""
        client = self._connect()
        name = collection_name(self._prefix[:-1], kind)
        with self._errors.call("list collections"):
            names = {c.name for c in client.list_collections()}
        if name not in names:
            raise InvalidInput(f"no collection of kind {kind!r}", field="kind")
        with self._errors.call("read a snapshot page"):
            collection = client.get_collection(name, embedding_function=explicit_vectors_only())
            page = collection.get(
                include=["metadatas", "embeddings", "documents"], limit=limit, offset=max(offset, 0)
            )
        vectors = page["embeddings"]
        metadatas = page["metadatas"] or []
        documents = page["documents"] or []
        items = []
        for n, item_id in enumerate(page["ids"]):
            vector = None if vectors is None else np.asarray(vectors[n], dtype=np.float32).tolist()
            meta = dict(metadatas[n]) if n < len(metadatas) and metadatas[n] else {}
            document = documents[n] if n < len(documents) else None
            items.append(RawItem(item_id, meta, vector, document))
        return items

    def write(self, kind: str, metadata: dict[str, Any] | None, items: Sequence[RawItem]) -> None:
        """Upsert the items into `<prefix>-<kind>` (created with `metadata` if missing)."""
        if any(item.vector is None for item in items):
            raise InvalidInput("every snapshot item needs its vector", field="items")
        client = self._connect()
        name = collection_name(self._prefix[:-1], kind)
        with self._errors.call("restore a collection"):
            collection = client.get_or_create_collection(
                name, metadata=metadata or None, embedding_function=explicit_vectors_only()
            )
            if items:
                documents = [item.document for item in items]
                collection.upsert(
                    ids=[item.id for item in items],
                    embeddings=np.asarray([item.vector for item in items], dtype=np.float32),
                    metadatas=[_restamped(item.metadata) for item in items],  # type: ignore[misc]
                    documents=documents if any(d is not None for d in documents) else None,  # type: ignore[arg-type]
                )
        self._on_write()


def _restamped(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """A restored decision record is written now: its `written_us` becomes now, so the browse
    catalogue of every server process on this database (which follows `written_us`) sees it."""
    if not metadata or RECORD_KEY not in metadata:
        return metadata or None
    return {**metadata, WRITTEN_KEY: time.time_ns() // 1000}
