"""`DecisionStore` on ChromaDB: embedded (`PersistentClient`, same process) or a Chroma server.

Four collections per database, named from the configured prefix:

- `<prefix>-records`: every decision, the source of truth, independent of any embedding model.
- `<prefix>-<space>`: the vector index of one embedding space (cosine distance).
- `<prefix>-edges`: the decision graph (`cstp.adapters.chroma.edges`), shared by every space.
- `<prefix>-breakers`: the circuit breakers' event log (`cstp.adapters.chroma.breakers`).
- `<prefix>-tracker`: the deliberation tracker's rows (`cstp.adapters.chroma.tracker`, `tracker()`).

The first two carry the metadata of `cstp.adapters.chroma.schema` (with the whole record as JSON, so
a search returns complete decisions). Writes go to the records, then the index; `record_versions()`
/ `index_versions()` let the service repair an index that missed a write (crash, reset, new model).

Beside this module: `client` (connecting, chromadb's quirks), `schema` (metadata layout and the
`where` dialect), `strategies` (overfetch search, date-slice listing), `errors` (translation of
Chroma's errors, wrapped around each Chroma call and nothing else), `recent` (decoded records).
The client is opened lazily on first use and reopened after a failed attempt, so a server started
before Chroma reports `StoreUnavailable` (and `/ready` says so) instead of failing to start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import chromadb.errors as chroma_errors
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import GetResult, Include

from cstp.adapters.batches import last_per_id
from cstp.adapters.chroma.breakers import BREAKERS, ChromaBreakers
from cstp.adapters.chroma.client import (
    close_client,
    collection_name,
    explicit_vectors_only,
    open_http,
    open_persistent,
    pages,
    parse_server_url,
    rows,
    upsert_merging,
    upsert_replacing,
)
from cstp.adapters.chroma.edges import EDGES, ChromaEdges
from cstp.adapters.chroma.errors import ChromaErrors
from cstp.adapters.chroma.recent import RecentDecisions
from cstp.adapters.chroma.schema import (
    WRITTEN_KEY,
    Where,
    decision_from_metadata,
    facts_from_metadata,
    index_metadata_for,
    is_unsatisfiable,
    metadata_for,
    record_text,
    record_vector,
    where_for,
)
from cstp.adapters.chroma.snapshot import ChromaSnapshots
from cstp.adapters.chroma.strategies import Hit, nearest_matching, newest_matching
from cstp.adapters.chroma.tracker import TRACKER, ChromaTracker
from cstp.adapters.chroma.ui_sessions import UI_SESSIONS, ChromaUiSessions
from cstp.domain.edges import Direction, Edge, EdgeList
from cstp.domain.errors import ConfigError, StoreUnavailable
from cstp.domain.facts import Changes, DecisionFacts
from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import Candidates, DecisionPage, RecordPage, Vector
from cstp.domain.records import Decision, ScoredDecision

# Writes are sent in chunks below the server's max batch (5461 items for 1.5.9, see
# /api/v2/pre-flight-checks); reads are paged so one response never holds the whole database.
WRITE_BATCH = 5000
READ_PAGE = 2000
# Decoded decisions kept for search results (see RecentDecisions).
RECENT_CACHE = 4096
# How far behind its cursor `changes` looks again: a record stamped (written_us) just before another
# process read past that stamp, but committed just after, is still reported. Covers a commit as slow
# as the client's timeout plus clock skew between hosts; rows written within it are re-read.
OVERLAP_BEYOND_TIMEOUT_S = 2.0
EMBEDDED_OVERLAP_S = 10.0
_RECORDS = "records"


class ChromaStore:
    """A `DecisionStore` backed by two Chroma collections; build with a factory.

    Thread safety: `_lock` guards the client and collection handles (opened, reset and closed only
    under it); Chroma's clients are thread-safe; `_recent` has its own lock.
    """

    def __init__(
        self,
        open_client: Callable[[], ClientAPI],
        *,
        prefix: str,
        space: str,
        location: str,
        secrets: Sequence[str] = (),
        change_overlap_s: float = EMBEDDED_OVERLAP_S,
    ) -> None:
        """Prefer `ChromaStore.embedded` / `ChromaStore.server`; this takes a client factory."""
        if space in (_RECORDS, EDGES, BREAKERS, TRACKER):
            raise ConfigError(f"embedding space name {space!r} is reserved")
        self._open_client = open_client
        self._space = space
        self._prefix = prefix
        self._records_name = collection_name(prefix, _RECORDS)
        self._index_name = collection_name(prefix, space)
        self._lock = threading.RLock()
        self._errors = ChromaErrors(location, secrets, on_missing_collection=self._forget_collections)
        self._edges = ChromaEdges(self._connected, collection_name(prefix, EDGES), self._errors)
        self._breakers = ChromaBreakers(self._connected, collection_name(prefix, BREAKERS), self._errors)
        self._tracker = ChromaTracker(self._connected, collection_name(prefix, TRACKER), self._errors)
        self._ui_sessions = ChromaUiSessions(
            self._connected, collection_name(prefix, UI_SESSIONS), self._errors
        )
        self._client: ClientAPI | None = None
        self._records: Collection | None = None
        self._index: Collection | None = None
        self._closed = False
        self._recent = RecentDecisions(RECENT_CACHE)
        self._revision = 0  # bumped under `_lock` after each save/reindex returned from Chroma
        self._overlap_us = int(change_overlap_s * 1_000_000)

    # --- factories --------------------------------------------------------------------------

    @classmethod
    def embedded(cls, path: Path, *, prefix: str, space: str) -> ChromaStore:
        """A store in directory `path` (the server uses `<data_dir>/chroma`), run in-process.

        Every store opened on the same path in one process shares one Chroma system (chromadb
        reference-counts it), so stores for two spaces can coexist.
        """
        directory = Path(path)
        return cls(lambda: open_persistent(directory), prefix=prefix, space=space, location=str(directory))

    @classmethod
    def server(
        cls,
        url: str,
        *,
        prefix: str,
        space: str,
        token: str | None = None,
        tenant: str = "default_tenant",
        database: str = "default_database",
        timeout: float = 10.0,
    ) -> ChromaStore:
        """A store on the Chroma server at `url` (e.g. `http://chromadb:8000`).

        `token` is sent as `Authorization: Bearer <token>`, for a proxy or a server with auth.
        Raises ConfigError for a malformed URL; nothing is contacted until first use.
        """
        address = parse_server_url(url)

        def open_client() -> ClientAPI:
            return open_http(address, token=token, tenant=tenant, database=database, timeout=timeout)

        return cls(
            open_client,
            prefix=prefix,
            space=space,
            location=address.base,
            secrets=[token or ""],
            change_overlap_s=timeout + OVERLAP_BEYOND_TIMEOUT_S,
        )

    # --- DecisionStore ----------------------------------------------------------------------

    @property
    def space(self) -> str:
        """The embedding space served by the `<prefix>-<space>` index collection."""
        return self._space

    def save(self, items: Sequence[tuple[Decision, Vector | None]]) -> None:
        """Upsert records, then index entries, in chunks; returns when Chroma acknowledged both.

        Record before index means a crash in between leaves a record without a fresh vector
        (found and repaired via `index_versions`), never a vector without a record. An item with
        a None vector (the embedder was down) writes the record only; an older index entry for
        it stays searchable, with its older rev, until the reconcile or `reindex` replaces it.
        """
        self._write(items, replacing=True)

    def insert(self, items: Sequence[tuple[Decision, Vector | None]]) -> None:
        """`save` for ids not stored yet: plain upserts, without the read `upsert_replacing` does
        first to find metadata keys to delete (a new id has none). Two Chroma calls instead of
        four, and the two reads were the ones that scan the collections' metadata by id."""
        self._write(items, replacing=False)

    def _write(self, items: Sequence[tuple[Decision, Vector | None]], *, replacing: bool) -> None:
        unique = last_per_id(items)
        if not unique:
            return
        records, index = self._collections()
        upsert = upsert_replacing if replacing else upsert_merging
        for start in range(0, len(unique), WRITE_BATCH):
            chunk = unique[start : start + WRITE_BATCH]
            ids = [d.id for d, _ in chunk]
            written = {WRITTEN_KEY: _now_us()}
            metadatas = [metadata_for(d) | written for d, _ in chunk]
            indexed = [(d.id, v, index_metadata_for(d)) for d, v in chunk if v is not None]
            upsert(self._errors, records, ids, _matrix([record_vector(i) for i in ids]), metadatas, "save")
            for d, _ in chunk:
                self._recent.put(d)
            if indexed:
                upsert(
                    self._errors,
                    index,
                    [i for i, _, _ in indexed],
                    _matrix([v for _, v, _ in indexed]),
                    [m for _, _, m in indexed],
                    "save",
                )
        self._bump_revision()

    def get(self, decision_id: str) -> Decision | None:
        """The record with exactly this id, or None."""
        records, _ = self._collections()
        with self._errors.call("get"):
            found = records.get(ids=[decision_id], include=["metadatas"])
        metadatas = found["metadatas"] or []
        return decision_from_metadata(dict(metadatas[0])) if metadatas else None

    def get_many(
        self, decision_ids: Iterable[str], known: Mapping[str, int] | None = None
    ) -> dict[str, Decision]:
        """id → record for the ids that exist, read in chunks of READ_PAGE ids; those `known` at
        a rev the recent-records cache holds come from it (see `DecisionStore.get_many`), and
        those read go into it: another process's write that the keyword index read back from the
        change feed is then on a list-mode page without a second read."""
        ids = list(dict.fromkeys(decision_ids))
        found: dict[str, Decision] = {}
        if known:
            found = self._recent.get_many((i, known[i]) for i in ids if i in known)
            ids = [i for i in ids if i not in found]
        if not ids:
            return found
        records, _ = self._collections()
        for start in range(0, len(ids), READ_PAGE):
            with self._errors.call("get"):
                result = records.get(ids=ids[start : start + READ_PAGE], include=["metadatas"])
            for i, meta in rows(result):
                found[i] = self._recent.put(decision_from_metadata(meta))
        return found

    def changes(self, cursor: int) -> Changes:
        """Facts of the records written after `cursor` (a `written_us` stamp; 0: every record).

        Looks `change_overlap_s` behind the cursor (see OVERLAP_BEYOND_TIMEOUT_S), so a change may
        come twice. A full read (cursor 0) takes long at scale and writes land meanwhile: its next
        cursor is the time it started, so the following call reads those writes again.
        """
        records, _ = self._collections()
        started = _now_us()
        where: Where | None = None if cursor <= 0 else {WRITTEN_KEY: {"$gte": cursor - self._overlap_us}}
        facts: list[DecisionFacts] = []
        latest = cursor
        for page in self._pages(records, where, ["metadatas"]):
            for i, meta in rows(page):
                facts.append(facts_from_metadata(i, meta))
                stamp = meta.get(WRITTEN_KEY)
                if isinstance(stamp, int) and stamp > latest:
                    latest = stamp
        return Changes(facts, started if cursor <= 0 else latest)

    def ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to `limit` ids starting with `prefix`, ascending; an empty prefix matches nothing.

        Chroma cannot filter ids by prefix, so this pages through the ids only (no metadata).
        """
        if not prefix or limit <= 0:
            return []
        records, _ = self._collections()
        ids = [i for page in self._pages(records, None, []) for i in page["ids"] if i.startswith(prefix)]
        return sorted(ids)[:limit]

    def search(
        self, vector: Vector, flt: DecisionFilter, limit: int, candidates: Candidates | None = None
    ) -> list[ScoredDecision]:
        """A filtered `query` on the index (`strategies.nearest_matching`, which may restrict it to
        `candidates`), then the hits' records by id; cosine distances."""
        if limit <= 0 or is_unsatisfiable(flt):
            return []
        records, index = self._collections()

        def query(n: int, where: Where | None, ids: list[str] | None) -> list[Hit]:
            with self._errors.call("search"):
                result = index.query(
                    query_embeddings=_matrix([vector]),
                    n_results=n,
                    where=where,
                    ids=ids,
                    include=["metadatas", "distances"],
                )
            found = result["ids"][0] if result["ids"] else []
            metadatas = (result["metadatas"] or [[]])[0]
            distances = (result["distances"] or [[]])[0]
            return [(i, dict(m), float(d)) for i, m, d in zip(found, metadatas, distances, strict=True)]

        def nearest(n: int, where: Where | None) -> list[Hit]:
            return query(n, where, None)

        def among(ids: list[str], n: int) -> list[Hit]:
            return query(n, None, ids)

        among_ids = None if candidates is None else lambda: _listed(candidates(flt))
        matched = nearest_matching(nearest, flt, limit, among=among, candidates=among_ids)
        hits = [(i, int(cast(int, m["rev"])), d) for i, m, d in matched]
        found = self._recent.get_many((i, rev) for i, rev, _ in hits)
        missing = [i for i, _, _ in hits if i not in found]
        if missing:
            with self._errors.call("search"):
                fetched = records.get(ids=missing, include=["metadatas"])
            for i, meta in rows(fetched):
                found[i] = self._recent.put(decision_from_metadata(meta))
        # An id without a record can only be an index entry whose record write never happened;
        # the write order (record first) makes that impossible short of manual deletion: skip it.
        return [ScoredDecision(found[i], distance) for i, _, distance in hits if i in found]

    def list(self, flt: DecisionFilter, limit: int) -> list[Decision]:
        """Up to `limit` matching records, newest first (equal dates by ascending id); see
        `strategies.newest_matching` for how it avoids reading every record."""
        if limit <= 0 or is_unsatisfiable(flt):
            return []
        records, _ = self._collections()

        def read(where: Where | None) -> Iterator[tuple[str, dict[str, Any]]]:
            for page in self._pages(records, where, ["metadatas"]):
                yield from rows(page)

        newest = newest_matching(read, flt, limit, datetime.now(UTC))
        return [decision_from_metadata(m) for _, m in newest]

    def scan(self, flt: DecisionFilter | None = None) -> Iterator[Decision]:
        """Every matching record, read `READ_PAGE` at a time (offset paging, no order)."""
        if flt is not None and is_unsatisfiable(flt):
            return
        records, _ = self._collections()
        where = where_for(flt) if flt is not None else None
        for page in self._pages(records, where, ["metadatas"]):
            for _, meta in rows(page):
                yield decision_from_metadata(meta)

    def page(self, flt: DecisionFilter | None, offset: int, limit: int) -> DecisionPage:
        """One `get` with offset and limit (Chroma returns records in insertion order)."""
        return [decision_from_metadata(dict(meta)) for _, meta in self._page_metadata(flt, offset, limit)]

    def page_records(self, flt: DecisionFilter | None, offset: int, limit: int) -> RecordPage:
        """`page` as the stored record JSON text, not parsed at all (exports pass it through)."""
        return [(i, record_text(meta)) for i, meta in self._page_metadata(flt, offset, limit)]

    def _page_metadata(
        self, flt: DecisionFilter | None, offset: int, limit: int
    ) -> Iterable[tuple[str, Mapping[str, Any]]]:
        """(id, metadata) of one page of records: the read `page` and `page_records` share."""
        if limit <= 0 or (flt is not None and is_unsatisfiable(flt)):
            return ()
        records, _ = self._collections()
        where = where_for(flt) if flt is not None else None
        with self._errors.call("read"):
            result = records.get(where=where, include=["metadatas"], limit=limit, offset=max(offset, 0))
        return zip(result["ids"], result["metadatas"] or [], strict=True)

    def count(self) -> int:
        """Number of records."""
        records, _ = self._collections()
        with self._errors.call("count"):
            return records.count()

    def record_versions(self) -> dict[str, int]:
        """id → rev of every record."""
        records, _ = self._collections()
        return self._versions(records)

    def index_versions(self) -> dict[str, int]:
        """id → rev of every entry in this space's index."""
        _, index = self._collections()
        return self._versions(index)

    def reset_index(self) -> None:
        """Delete and recreate this space's index collection; records are untouched."""
        self._collections()
        with self._lock:
            assert self._client is not None
            try:
                with self._errors.call("reset the index"):
                    self._client.delete_collection(self._index_name)
            except StoreUnavailable as e:
                if not isinstance(e.__cause__, chroma_errors.NotFoundError):
                    raise  # NotFound means already gone: the goal state
            self._index = None
        self._collections()

    def reindex(self, items: Sequence[tuple[Decision, Vector]]) -> None:
        """Write index entries only (the records already hold these decisions)."""
        unique = last_per_id(items)
        if not unique:
            return
        _, index = self._collections()
        for start in range(0, len(unique), WRITE_BATCH):
            chunk = unique[start : start + WRITE_BATCH]
            upsert_replacing(
                self._errors,
                index,
                [d.id for d, _ in chunk],
                _matrix([v for _, v in chunk]),
                [index_metadata_for(d) for d, _ in chunk],
                "reindex",
            )
        self._bump_revision()

    def revision(self) -> int:
        """Grows after every save/reindex through this store object (this process only)."""
        with self._lock:
            return self._revision

    def _bump_revision(self) -> None:
        with self._lock:
            self._revision += 1

    def save_edge(self, edge: Edge) -> None:
        """Upsert `edge` into `<prefix>-edges`; returns when Chroma acknowledged it."""
        self._edges.save(edge)

    def edges(self, node_ids: Iterable[str], direction: Direction = "both") -> EdgeList:
        """Every edge touching `node_ids` in `direction` (a `where` on source/target)."""
        return self._edges.touching(node_ids, direction)

    def breaker_store(self) -> ChromaBreakers:
        """The circuit breakers' event log, `<prefix>-breakers`, on this store's client."""
        return self._breakers

    def snapshots(self) -> ChromaSnapshots:
        """Raw access to every collection of this deployment, for backup and restore."""

        def written() -> None:
            self._forget_collections()  # a restore may have created the collections under us
            self._bump_revision()

        return ChromaSnapshots(self._connected, self._prefix, self._errors, written)

    def ping(self) -> None:
        """Heartbeat plus a record count: proves the server answers and the collection exists."""
        records, _ = self._collections()
        with self._errors.call("ping"):
            assert self._client is not None
            self._client.heartbeat()
            records.count()

    def close(self) -> None:
        """Release the client (the embedded database is closed when its last client is)."""
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
            self._records = self._index = None
        self._edges.forget()
        self._breakers.forget()
        self._tracker.forget()
        self._ui_sessions.forget()
        if client is not None:
            close_client(client)

    # --- internals --------------------------------------------------------------------------

    def _collections(self) -> tuple[Collection, Collection]:
        """The (records, index) collections, connecting and creating them on first use."""
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the decision store is closed")
            if self._records is None or self._index is None:
                with self._errors.call("connect"):
                    if self._client is None:
                        self._client = self._open_client()
                    ef = explicit_vectors_only()
                    self._records = self._client.get_or_create_collection(
                        self._records_name, embedding_function=ef
                    )
                    self._index = self._client.get_or_create_collection(
                        self._index_name,
                        metadata={"hnsw:space": "cosine"},
                        embedding_function=ef,
                    )
            return self._records, self._index

    def ui_sessions(self) -> ChromaUiSessions:
        """The dashboard's sessions (`<prefix>-ui-sessions`), on this store's client."""
        return self._ui_sessions

    def tracker(self) -> ChromaTracker:
        """The deliberation tracker's rows (`<prefix>-tracker`), on this store's client."""
        return self._tracker

    def _connected(self) -> ClientAPI:
        """The open client, connecting on first use (for the edge collection)."""
        self._collections()
        with self._lock:
            if self._client is None:  # closed meanwhile
                raise StoreUnavailable("the decision store is closed")
            return self._client

    def _pages(self, collection: Collection, where: Where | None, include: Include) -> Iterator[GetResult]:
        """`collection.get` in pages of READ_PAGE (read at call time, so tests can shrink it)."""
        return pages(self._errors, collection, where, include, READ_PAGE)

    def _versions(self, collection: Collection) -> dict[str, int]:
        return {
            i: int(m["rev"]) for page in self._pages(collection, None, ["metadatas"]) for i, m in rows(page)
        }

    def _forget_collections(self) -> None:
        """Drop the collection handles (one was deleted under us); the next call reopens them."""
        with self._lock:
            self._records = self._index = None
        self._edges.forget()
        self._breakers.forget()
        self._tracker.forget()
        self._ui_sessions.forget()


def _listed(ids: Iterable[str] | None) -> list[str] | None:
    return None if ids is None else list(ids)


def _now_us() -> int:
    return time.time_ns() // 1000


def _matrix(vectors: Sequence[Vector]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.asarray([list(v) for v in vectors], dtype=np.float32)
