"""`DecisionStore` on ChromaDB: embedded (`PersistentClient`, same process) or a Chroma server.

Two collections per database, named from the configured prefix:

- `<prefix>-records`: every decision, the source of truth. It does not depend on any embedding
  model, so switching models (or spaces) never touches the records.
- `<prefix>-<space>`: the vector index of one embedding space (cosine distance).

Both carry the metadata laid out in `cstp.adapters.chroma.schema`, including the full record as JSON,
so a search returns complete decisions in one Chroma call. Writes go to the records first, then to
the index; `record_versions()` / `index_versions()` let the service repair an index that missed a
write (crash, index reset, model switch).

Connecting (embedded or HTTP, and chromadb's quirks) lives in `cstp.adapters.chroma.client`. The
client is opened lazily on first use and reopened after a failed attempt, so a server started
before Chroma reports `StoreUnavailable` (and `/ready` says so) instead of failing to start. Every
Chroma, httpx and OS error is translated to `StoreUnavailable` with a short message: no stack
trace, no server response body beyond its first line, never the token.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import chromadb.errors as chroma_errors
import httpx
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import GetResult, Include

from cstp.adapters.chroma.client import (
    ExplicitVectorsOnly,
    close_client,
    collection_name,
    explicit_vectors_only,
    open_http,
    open_persistent,
    parse_server_url,
)
from cstp.adapters.chroma.recent import RecentDecisions
from cstp.adapters.chroma.schema import (
    Metadata,
    MetadataValue,
    Where,
    decision_from_metadata,
    index_metadata_for,
    is_unsatisfiable,
    metadata_for,
    metadata_matches,
    where_for,
)
from cstp.domain.errors import ConfigError, StoreUnavailable
from cstp.domain.models import Decision, DecisionFilter, ScoredDecision, aware
from cstp.domain.ports import Vector

# ExplicitVectorsOnly and collection_name are re-exported: callers (bench) import them from here.
__all__ = ["READ_PAGE", "WRITE_BATCH", "ChromaStore", "ExplicitVectorsOnly", "collection_name"]

# Writes are sent in chunks below the server's max batch (5461 items for 1.5.9, see
# /api/v2/pre-flight-checks); reads are paged so one response never holds the whole database.
WRITE_BATCH = 5000
READ_PAGE = 2000
# Decoded decisions kept for search results (see RecentDecisions).
RECENT_CACHE = 4096
# search(): nearest entries fetched unfiltered and filtered in Python before falling back to
# Chroma's metadata pre-filter (see ChromaStore._nearest_matching).
OVERFETCH = 200
# list(): date slices read back in time (days); most listings stop after the first one or two.
LIST_SLICE_DAYS = (1, 7, 30, 90, 365)
_RECORDS = "records"
VectorT = TypeVar("VectorT", Vector, Vector | None)


class ChromaStore:
    """A `DecisionStore` backed by two Chroma collections. Thread-safe; build with a factory."""

    def __init__(
        self,
        open_client: Callable[[], ClientAPI],
        *,
        prefix: str,
        space: str,
        location: str,
        secrets: Sequence[str] = (),
    ) -> None:
        """Prefer `ChromaStore.embedded` / `ChromaStore.server`; this takes a client factory."""
        if space == _RECORDS:
            raise ConfigError(f"embedding space name {space!r} is reserved")
        self._open_client = open_client
        self._space = space
        self._records_name = collection_name(prefix, _RECORDS)
        self._index_name = collection_name(prefix, space)
        self._location = location
        self._secrets = tuple(s for s in secrets if s)
        self._lock = threading.RLock()
        self._client: ClientAPI | None = None
        self._records: Collection | None = None
        self._index: Collection | None = None
        self._closed = False
        self._recent = RecentDecisions(RECENT_CACHE)
        self._revision = 0  # bumped under `_lock` after each save/reindex returned from Chroma

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

        return cls(open_client, prefix=prefix, space=space, location=address.base, secrets=[token or ""])

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
        unique = _last_per_id(items)
        if not unique:
            return
        records, index = self._collections()
        for start in range(0, len(unique), WRITE_BATCH):
            chunk = unique[start : start + WRITE_BATCH]
            ids = [d.id for d, _ in chunk]
            metadatas = [metadata_for(d) for d, _ in chunk]
            indexed = [(d.id, v, index_metadata_for(d)) for d, v in chunk if v is not None]
            with self._translate("save"):
                _upsert(records, ids, _matrix([_record_vector(i) for i in ids]), metadatas)
                for d, _ in chunk:
                    self._recent.put(d)
                if indexed:
                    _upsert(
                        index,
                        [i for i, _, _ in indexed],
                        _matrix([v for _, v, _ in indexed]),
                        [m for _, _, m in indexed],
                    )
        self._bump_revision()

    def get(self, decision_id: str) -> Decision | None:
        """The record with exactly this id, or None."""
        records, _ = self._collections()
        with self._translate("get"):
            found = records.get(ids=[decision_id], include=["metadatas"])
        metadatas = found["metadatas"] or []
        return decision_from_metadata(dict(metadatas[0])) if metadatas else None

    def get_by_prefix(self, prefix: str) -> Decision | None:
        """The newest record whose id starts with `prefix`; an empty prefix matches nothing.

        Chroma cannot filter ids by prefix, so this lists ids only (no metadata) and then
        fetches the candidates.
        """
        if not prefix:
            return None
        records, _ = self._collections()
        ids = [i for page in self._pages(records, None, []) for i in page["ids"]]
        candidates = [i for i in ids if i.startswith(prefix)]
        if not candidates:
            return None
        with self._translate("get"):
            found = records.get(ids=candidates, include=["metadatas"])
        newest = _newest_first(found)
        return decision_from_metadata(newest[0][1]) if newest else None

    def search(self, vector: Vector, flt: DecisionFilter, limit: int) -> list[ScoredDecision]:
        """A filtered `query` on the index, then the hits' records by id; cosine distances."""
        if limit <= 0 or is_unsatisfiable(flt):
            return []
        records, index = self._collections()
        with self._translate("search"):
            hits = self._nearest_matching(index, vector, flt, limit)
            found = self._recent.get_many((i, rev) for i, rev, _ in hits)
            missing = [i for i, _, _ in hits if i not in found]
            if missing:
                for i, meta in _rows(records.get(ids=missing, include=["metadatas"])):
                    found[i] = self._recent.put(decision_from_metadata(meta))
        # An id without a record can only be an index entry whose record write never happened;
        # the write order (record first) makes that impossible short of manual deletion: skip it.
        return [ScoredDecision(found[i], distance) for i, _, distance in hits if i in found]

    def _nearest_matching(
        self, index: Collection, vector: Vector, flt: DecisionFilter, limit: int
    ) -> list[tuple[str, int, float]]:
        """(id, rev, distance) of the `limit` nearest index entries matching `flt`.

        Chroma's own `where` pre-filter reads the metadata of every row (50 ms at 10k decisions,
        0.5 s at 100k, measured), while an unfiltered query is about 2 ms. So a filtered search
        first takes the nearest OVERFETCH entries unfiltered and filters them here: when at least
        `limit` match (or the collection had no more entries), those are exactly the nearest
        matching ones. Only a selective filter falls back to Chroma's pre-filter.
        """
        where = where_for(flt)
        n = limit if where is None else max(OVERFETCH, limit)
        rows = _nearest(index, vector, n, None)
        if where is not None:
            matching = [r for r in rows if metadata_matches(flt, r[1])]
            if len(matching) < limit and len(rows) == n:
                matching = _nearest(index, vector, limit, where)
            rows = matching
        return [(i, int(cast(int, m["rev"])), d) for i, m, d in rows[:limit]]

    def list(self, flt: DecisionFilter, limit: int) -> list[Decision]:
        """Up to `limit` matching records, newest first (equal dates by ascending id).

        Chroma cannot sort, so this reads matching metadata and sorts by `date_us`. To avoid
        reading every record for "the newest ten", it reads back in time in growing, disjoint
        date slices (a day, a week, a month, ...) and stops once a slice boundary has `limit`
        rows behind it: rows in older slices cannot be newer.
        """
        if limit <= 0 or is_unsatisfiable(flt):
            return []
        records, _ = self._collections()
        now = datetime.now(UTC)
        seen: dict[str, tuple[int, dict[str, Any]]] = {}
        newer_than: datetime | None = None  # upper bound of the next slice (None: open)
        for days in (*LIST_SLICE_DAYS, None):
            lower = None if days is None else now - timedelta(days=days)
            if flt.date_after is not None and (lower is None or lower < aware(flt.date_after)):
                lower = aware(flt.date_after)
            upper = newer_than
            if flt.date_before is not None and (upper is None or upper > aware(flt.date_before)):
                upper = aware(flt.date_before)
            if lower is not None and upper is not None and lower > upper:
                newer_than = lower  # this slice lies after dateBefore: nothing to read in it
                continue
            window = dataclasses.replace(flt, date_after=lower, date_before=upper)
            for page in self._pages(records, where_for(window), ["metadatas"]):
                for i, m in _rows(page):
                    seen[i] = (int(m["date_us"]), dict(m))
            if len(seen) >= limit or lower is None or lower == flt.date_after:
                break
            newer_than = lower
        rows = sorted(seen.items(), key=lambda row: (-row[1][0], row[0]))
        return [decision_from_metadata(m) for _, (_, m) in rows[:limit]]

    def scan(self, flt: DecisionFilter | None = None) -> Iterator[Decision]:
        """Every matching record, read `READ_PAGE` at a time (offset paging, no order)."""
        if flt is not None and is_unsatisfiable(flt):
            return
        records, _ = self._collections()
        where = where_for(flt) if flt is not None else None
        for page in self._pages(records, where, ["metadatas"]):
            for _, meta in _rows(page):
                yield decision_from_metadata(meta)

    def count(self) -> int:
        """Number of records."""
        records, _ = self._collections()
        with self._translate("count"):
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
        with self._lock, self._translate("reset the index"):
            assert self._client is not None
            try:
                self._client.delete_collection(self._index_name)
            except chroma_errors.NotFoundError:
                pass  # already gone: the goal state
            self._index = None
        self._collections()

    def reindex(self, items: Sequence[tuple[Decision, Vector]]) -> None:
        """Write index entries only (the records already hold these decisions)."""
        unique = _last_per_id(items)
        if not unique:
            return
        _, index = self._collections()
        for start in range(0, len(unique), WRITE_BATCH):
            chunk = unique[start : start + WRITE_BATCH]
            with self._translate("reindex"):
                _upsert(
                    index,
                    [d.id for d, _ in chunk],
                    _matrix([v for _, v in chunk]),
                    [index_metadata_for(d) for d, _ in chunk],
                )
        self._bump_revision()

    def revision(self) -> int:
        """Grows after every save/reindex through this store object (this process only)."""
        with self._lock:
            return self._revision

    def _bump_revision(self) -> None:
        with self._lock:
            self._revision += 1

    def ping(self) -> None:
        """Heartbeat plus a record count: proves the server answers and the collection exists."""
        records, _ = self._collections()
        with self._translate("ping"):
            assert self._client is not None
            self._client.heartbeat()
            records.count()

    def close(self) -> None:
        """Release the client (the embedded database is closed when its last client is)."""
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
            self._records = self._index = None
        if client is not None:
            close_client(client)

    # --- internals --------------------------------------------------------------------------

    def _collections(self) -> tuple[Collection, Collection]:
        """The (records, index) collections, connecting and creating them on first use."""
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the decision store is closed")
            if self._records is None or self._index is None:
                with self._translate("connect"):
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

    def _pages(self, collection: Collection, where: Where | None, include: Include) -> Iterator[GetResult]:
        """`collection.get` in pages of READ_PAGE, until a short page."""
        offset = 0
        while True:
            with self._translate("read"):
                page = collection.get(where=where, include=include, limit=READ_PAGE, offset=offset)
            yield page
            if len(page["ids"]) < READ_PAGE:
                return
            offset += READ_PAGE

    def _versions(self, collection: Collection) -> dict[str, int]:
        return {
            i: int(m["rev"]) for page in self._pages(collection, None, ["metadatas"]) for i, m in _rows(page)
        }

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        """Turn every foreign error into StoreUnavailable, most specific first.

        Wraps only Chroma calls, so our own bugs are not disguised as an outage.
        """
        try:
            yield
        except StoreUnavailable:
            raise
        except chroma_errors.NotFoundError as e:
            # A collection was deleted under us (e.g. another instance reset the index):
            # forget the handles so the next call reopens or recreates them.
            self._records = self._index = None
            raise StoreUnavailable(f"Chroma {action} failed: {self._short(e)}") from e
        except (chroma_errors.ChromaAuthError, chroma_errors.AuthorizationError) as e:
            raise StoreUnavailable(f"Chroma at {self._location} refused {action}: {self._short(e)}") from e
        except chroma_errors.ChromaError as e:
            raise StoreUnavailable(f"Chroma {action} failed: {self._short(e)}") from e
        except httpx.TimeoutException as e:
            raise StoreUnavailable(f"Chroma at {self._location} timed out ({action})") from e
        except httpx.HTTPStatusError as e:
            status = e.response.status_code
            raise StoreUnavailable(f"Chroma at {self._location} answered HTTP {status} ({action})") from e
        except httpx.HTTPError as e:  # connection refused / reset, protocol errors
            raise StoreUnavailable(
                f"cannot reach Chroma at {self._location} ({action}): {type(e).__name__}"
            ) from e
        except OSError as e:  # embedded: disk full, permissions
            reason = e.strerror or type(e).__name__
            raise StoreUnavailable(f"Chroma {action} failed at {self._location}: {reason}") from e
        except Exception as e:  # chromadb raises bare Exception/ValueError with server text
            raise StoreUnavailable(f"Chroma {action} failed: {self._short(e)}") from e

    def _short(self, error: BaseException) -> str:
        """First line of the error, at most 200 characters, with any secret blanked out."""
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return (text[:200] + "…" if len(text) > 200 else text) or type(error).__name__


def _upsert(
    collection: Collection,
    ids: list[str],
    embeddings: np.ndarray[Any, np.dtype[np.float32]],
    metadatas: list[Metadata],
) -> None:
    """Upsert that replaces metadata instead of merging it.

    Chroma's upsert merges new metadata keys into the old ones, so a tag or project removed by an
    update would survive. Keys the stored entry has but the new metadata lacks are sent as None,
    which Chroma treats as "delete this key".
    """
    existing = collection.get(ids=ids, include=["metadatas"])
    old = {i: set(m) for i, m in _rows(existing)}
    payload: list[dict[str, MetadataValue | None]] = []
    for decision_id, meta in zip(ids, metadatas, strict=True):
        row: dict[str, MetadataValue | None] = dict(meta)
        row.update(dict.fromkeys(old.get(decision_id, set()) - set(meta)))
        payload.append(row)
    collection.upsert(ids=ids, embeddings=embeddings, metadatas=payload)  # type: ignore[arg-type]


def _nearest(
    index: Collection, vector: Vector, n: int, where: Where | None
) -> list[tuple[str, dict[str, Any], float]]:
    """(id, metadata, cosine distance) of the `n` nearest index entries, nearest first."""
    result = index.query(
        query_embeddings=_matrix([vector]),
        n_results=n,
        where=where,
        include=["metadatas", "distances"],
    )
    ids = result["ids"][0] if result["ids"] else []
    metadatas = (result["metadatas"] or [[]])[0]
    distances = (result["distances"] or [[]])[0]
    return [(i, dict(m), float(d)) for i, m, d in zip(ids, metadatas, distances, strict=True)]


def _rows(result: GetResult) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, metadata) pairs of a get result."""
    metadatas = result["metadatas"] or []
    for decision_id, meta in zip(result["ids"], metadatas, strict=True):
        yield decision_id, dict(meta)


def _newest_first(result: GetResult) -> list[tuple[str, dict[str, Any]]]:
    return sorted(_rows(result), key=lambda row: (-int(row[1]["date_us"]), row[0]))


def _record_vector(decision_id: str) -> list[float]:
    """A 2-d vector derived from the id, for the records collection.

    Chroma requires a vector for every item, but records are never searched by vector: a tiny
    fixed dimension keeps them independent of any embedding model and cheap to store. It is
    spread by a hash (not a constant) because an HNSW graph full of identical points degrades.
    """
    digest = hashlib.sha256(decision_id.encode("utf-8")).digest()
    a = int.from_bytes(digest[:4], "big") / 2**32
    b = int.from_bytes(digest[4:8], "big") / 2**32
    return [a, b]


def _matrix(vectors: Sequence[Vector]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.asarray([list(v) for v in vectors], dtype=np.float32)


def _last_per_id(
    items: Sequence[tuple[Decision, VectorT]],
) -> list[tuple[Decision, VectorT]]:
    """One item per id, the last winning (Chroma rejects duplicate ids in one call)."""
    return list({d.id: (d, v) for d, v in items}.values())
