"""The ports: the interfaces the domain needs from the outside world (only domain types cross them).

`DecisionStore` is implemented by `cstp.adapters.memory_store` (tests, the benchmarks' floor) and
`cstp.adapters.chroma` (embedded persistent Chroma or a Chroma server over HTTP). `Embedder` is
implemented by `cstp.adapters.onnx_embedder` (offline all-MiniLM-L6-v2) and
`cstp.adapters.gemini_embedder` (REST). Adapters translate every foreign exception into
`StoreUnavailable` / `EmbedderUnavailable` at this boundary.

A decision store keeps three things:
- **records**: every decision, the source of truth, independent of any embedding model;
- **an index** for one embedding space (provider/model/dimension): a vector per decision plus the
  metadata that filters and result rows need. Vectors from different spaces never share an index;
- **edges** of the decision graph (`domain.edges`), shared by every space like the records.

Writes go to the records first and then to the index; `index_versions()` / `record_versions()` let
the service find index entries that are missing or stale after a crash and repair them at startup.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from cstp.domain.breakers.state import BreakerEvent
from cstp.domain.edges import Direction, Edge, EdgeList
from cstp.domain.facts import Changes
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision, ScoredDecision
from cstp.domain.tracker import Kind, TrackerRow
from cstp.domain.ui_sessions import UiSession

Vector = Sequence[float]
# What `DecisionStore.page` returns. Named because the stores define a method called `list`, which
# hides the builtin inside their class bodies (as `edges.EdgeList`).
DecisionPage = list[Decision]
# A decision's raw record, the JSON object of `codec.to_record`.
RawRecord = dict[str, Any]
# What `page_records` returns: (id, the JSON text of the decision's raw record) in store order.
RecordPage = list[tuple[str, str]]
Purpose = Literal["document", "query"]
# See `DecisionStore.search`: ids that include every decision matching the filter, or None.
Candidates = Callable[[DecisionFilter], Collection[str] | None]


class DecisionStore(Protocol):
    """Persistent decision records plus a vector index for one embedding space."""

    @property
    def space(self) -> str:
        """Name of the embedding space this store's index serves (e.g. `local-minilm-l6-384`)."""
        ...

    def save(self, items: Sequence[tuple[Decision, Vector | None]]) -> None:
        """Durably upsert the records and their index entries. Returns only when both are written.

        A None vector (the embedder was down) writes the record only; the startup reconcile or
        `cstp.reindex` indexes it later.
        """
        ...

    def insert(self, items: Sequence[tuple[Decision, Vector | None]]) -> None:
        """`save` for decisions whose ids are not stored yet (new records with fresh random ids).

        The same durability and result as `save`. What the promise buys: a store that must read an
        existing entry to replace it (Chroma merges metadata, see `upsert_replacing`) can skip that
        read. An id that does exist after all is overwritten; whether keys the new record lacks
        survive is the store's to say (Chroma: they do, in the filter metadata only).
        """
        ...

    def get(self, decision_id: str) -> Decision | None:
        """The record with exactly this id, or None."""
        ...

    def get_many(
        self, decision_ids: Collection[str], known: Mapping[str, int] | None = None
    ) -> dict[str, Decision]:
        """id → record for every id in `decision_ids` that exists (one read, for bulk imports).

        `known`: id → the rev the caller knows the record at (the browse catalogue's); a store
        may answer a record it holds decoded at exactly that rev from memory instead of reading
        it (the Chroma store's cache of recent records: a listing's newest page is mostly the
        records this process just wrote)."""
        ...

    def ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to `limit` record ids starting with `prefix`, ascending; an empty prefix matches none.

        Ids only, so that resolving a short id can tell "one match" from "ambiguous" without
        reading the records of every candidate.
        """
        ...

    def search(
        self, vector: Vector, flt: DecisionFilter, limit: int, candidates: Candidates | None = None
    ) -> list[ScoredDecision]:
        """The `limit` nearest decisions matching `flt`, nearest first (cosine distance).

        `candidates(flt)`, when given, returns ids of which every decision matching `flt` is one
        (more are allowed: each result is still checked against `flt`), or None when it cannot
        tell. A store whose own filtered search is slow may call it to search those ids only;
        the result is the same either way.
        """
        ...

    def list(self, flt: DecisionFilter, limit: int) -> list[Decision]:
        """Up to `limit` decisions matching `flt`, newest first."""
        ...

    def scan(self, flt: DecisionFilter | None = None) -> Iterator[Decision]:
        """Every record matching `flt` (all when None), in no particular order, read in batches."""
        ...

    def changes(self, cursor: int) -> Changes:
        """The facts of every record written after `cursor` (0: every record), by any process.

        The browse catalogue keeps up with the store through this: it must see the writes of
        every server process sharing the store, not only its own. A change may be reported more
        than once (keep the highest rev); none is ever skipped while writes are acknowledged
        within the store's timeout.
        """
        ...

    def page(self, flt: DecisionFilter | None, offset: int, limit: int) -> DecisionPage:
        """Up to `limit` records matching `flt` (all when None), skipping the first `offset`.

        The order is the store's insertion order, which neither updates nor new records change for
        records already stored: paging from 0 while others write sees every record that existed
        when paging began exactly once (exports page through a running server this way).
        """
        ...

    def page_records(self, flt: DecisionFilter | None, offset: int, limit: int) -> RecordPage:
        """`page` as (id, JSON text of `codec.to_record` of the decision), in the same order.

        For exports: a store that keeps the record JSON returns that text as it is, so the reply
        carries it without parsing, rebuilding or re-encoding each record (at 1,000 a page those
        cost about half as much again as Chroma's read). The text is one JSON object; its
        formatting is the store's (compact or not), its parsed value is `codec.to_record(d)`.
        """
        ...

    def count(self) -> int:
        """Number of records."""
        ...

    def record_versions(self) -> dict[str, int]:
        """id → rev of every record."""
        ...

    def index_versions(self) -> dict[str, int]:
        """id → rev of every entry in this space's index."""
        ...

    def reset_index(self) -> None:
        """Drop and recreate this space's index (records are untouched)."""
        ...

    def reindex(self, items: Sequence[tuple[Decision, Vector]]) -> None:
        """Write index entries only (records already hold these decisions)."""
        ...

    def revision(self) -> int:
        """A number that grows after every `save` or `reindex` through this store object returned.

        Caches of the records compare it to know whether they are stale: a scan started after
        reading revision r sees every write counted in r. It counts writes of this process only,
        and is not persisted (it restarts with the process); `domain.shared_revision` adds the
        writes of other processes sharing the store (from `changes`).
        """
        ...

    def save_edge(self, edge: Edge) -> None:
        """Durably upsert a graph edge under its (source, target, type) key: relinking replaces it.

        Returns only when the edge is written, so any store opened on the same database sees it.
        """
        ...

    def edges(self, node_ids: Collection[str], direction: Direction = "both") -> EdgeList:
        """Every edge leaving (outgoing), entering (incoming) or touching (both) one of `node_ids`,
        in no particular order (`edges.touches` is the reference semantics)."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers a cheap call."""
        ...

    def close(self) -> None:
        """Release connections and flush; the store is unusable afterwards."""
        ...


class Embedder(Protocol):
    """Turns texts into vectors. Implementations batch internally and are safe to call from threads."""

    @property
    def space(self) -> str:
        """Stable name of the embedding space: provider, model and dimension (collection-name safe)."""
        ...

    def embed(self, texts: Sequence[str], purpose: Purpose = "document") -> list[list[float]]:
        """One L2-normalised vector per text, in order. Raises EmbedderUnavailable on failure."""
        ...

    def close(self) -> None:
        """Release sessions and connections."""
        ...


class KeywordIndex(Protocol):
    """A full-text (BM25) index over decisions, rebuilt from a complete list of them.

    `cstp.adapters.bm25s_index` implements it. The domain decides when to rebuild
    (`cstp.domain.search.KeywordSearch`); an index only answers and rebuilds.
    """

    def search(self, query: str, flt: DecisionFilter, limit: int) -> list[tuple[Decision, float]]:
        """Up to `limit` decisions matching `flt` that contain a query word, best score first.

        Scores are BM25 with k1 1.5, b 0.75 and Lucene's idf, and are positive; decisions without
        any query word are never returned. An empty or wordless query returns nothing.
        """
        ...

    def score(self, query: str, decisions: Sequence[Decision]) -> list[float]:
        """Each of `decisions`' score for `query` as if the index in use held them as well (the
        corpus statistics count them): how a query ranks writes the index was not rebuilt over yet.
        0 for a decision without a query word."""
        ...

    def rebuild(self, decisions: Sequence[Decision]) -> None:
        """Replace the whole index by one over exactly `decisions`.

        Searches running meanwhile answer from the previous index, never from a partial one.
        """
        ...


class BreakerStore(Protocol):
    """The circuit breakers' shared event log (`cstp.domain.breakers.state` derives the state).

    Every server process sharing a database appends to and reads the same log, which is how a
    breaker opened on one process blocks on all and survives a restart. Appends are upserts by
    event id (ids are unique, or deterministic where a repeat must replace: one outcome per
    decision and scope). `cstp.adapters.memory_breakers` and `cstp.adapters.chroma.breakers`
    implement it.
    """

    def append(self, events: Sequence[BreakerEvent]) -> None:
        """Durably upsert `events`; returns only when every process can read them."""
        ...

    def insert_if_absent(self, event: BreakerEvent) -> BreakerEvent:
        """Store `event` unless an event with its id is stored; return the stored one.

        The one compare-and-set the breakers need: of several processes claiming the same
        half-open probe slot, the first write wins, and each learns whether it was first.
        """
        ...

    def events(self, scopes: Collection[str]) -> list[BreakerEvent]:
        """Every stored event of the given scopes, in no particular order."""
        ...

    def delete(self, event_ids: Collection[str]) -> None:
        """Remove events by id (compaction); ids not stored are ignored."""
        ...


class TrackerStore(Protocol):
    """The deliberation tracker's rows (`domain.tracker.TrackerRow`): captured inputs and history.

    Shared by every server process on one database, so an input captured by one process is
    consumed by a record handled by another. Rows expire; `expired` and `delete` let the tracker
    purge them. `cstp.adapters.memory_tracker` and `cstp.adapters.chroma.tracker` implement it.
    """

    def add(self, rows: Sequence[TrackerRow]) -> None:
        """Durably upsert the rows by id; returns when every process can read them."""
        ...

    def rows(self, owner: str | None, kind: Kind, now: datetime) -> list[TrackerRow]:
        """Rows of `kind` belonging to `owner` (None: every owner) not yet expired at `now`."""
        ...

    def expired(self, now: datetime) -> list[TrackerRow]:
        """Every row (any owner, any kind) whose expiry is at or before `now`."""
        ...

    def delete(self, ids: Sequence[str]) -> None:
        """Remove rows by id; unknown ids are ignored."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


class UiSessionStore(Protocol):
    """The dashboard's server-side sessions (`domain.ui_sessions.UiSession`) and its signing secret.

    Shared by every server process on one database: a session signed in on one replica is valid on
    all of them, and a signed-out one on none. `cstp.adapters.memory_ui_sessions` and
    `cstp.adapters.chroma.ui_sessions` implement it.
    """

    def get(self, key: str) -> UiSession | None:
        """The session stored under `key` (a hash of the session id), expired or not."""
        ...

    def put(self, session: UiSession) -> None:
        """Durably store the session under its key; returns when every process can read it."""
        ...

    def delete(self, keys: Sequence[str]) -> None:
        """Remove sessions by key; unknown keys are ignored."""
        ...

    def expired(self, now: float) -> list[str]:
        """The keys of every session whose expiry (epoch seconds) is at or before `now`."""
        ...

    def secret(self, candidate: str) -> str:
        """The shared signing secret: `candidate` if none was stored yet (it is then stored), else
        the stored one, so concurrent first starts of several replicas agree on one secret."""
        ...
