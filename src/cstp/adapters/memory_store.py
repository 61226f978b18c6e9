"""`DecisionStore` in process memory: the reference implementation of the port.

Used by unit tests (no Chroma needed) and by benchmarks as the floor: search is an exact cosine
scan, and filters use `DecisionFilter.matches`, which defines what every store must return.

Several `MemoryStore`s can share one `MemoryData` to model one database seen through different
embedding spaces: they share the records, and each space has its own index.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from cstp.adapters.batches import last_per_id, newest_first
from cstp.domain import codec
from cstp.domain.edges import Direction, Edge, EdgeKey, EdgeList, touches
from cstp.domain.errors import StoreUnavailable
from cstp.domain.facts import Changes, facts_of
from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import Candidates, DecisionPage, RecordPage, Vector
from cstp.domain.records import Decision, ScoredDecision

_FloatArray = npt.NDArray[np.float64]


@dataclass
class _Index:
    """One embedding space: the decision as indexed (for filters) and its unit vector."""

    entries: dict[str, tuple[Decision, _FloatArray]] = field(default_factory=dict)
    dimension: int | None = None  # fixed by the first vector, as in a Chroma collection
    # Stacked vectors for a vectorised scan, rebuilt lazily after writes.
    matrix: _FloatArray | None = None
    order: list[str] = field(default_factory=list)


@dataclass
class MemoryData:
    """Records, graph edges and one index per space; shared by every `MemoryStore` opened on it."""

    records: dict[str, Decision] = field(default_factory=dict)
    edges: dict[EdgeKey, Edge] = field(default_factory=dict)
    indexes: dict[str, _Index] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    revision: int = 0  # bumped under `lock` after every save/reindex, in any space
    written: list[str] = field(default_factory=list)  # ids in write order: `changes` reads its tail


class MemoryStore:
    """A `DecisionStore` held in a dict; nothing survives the process.

    Thread safety: every access to the shared `MemoryData` holds its `lock`.
    """

    def __init__(self, space: str, data: MemoryData | None = None) -> None:
        self._space = space
        self._data = data if data is not None else MemoryData()
        self._closed = False
        with self._data.lock:
            self._data.indexes.setdefault(space, _Index())

    @property
    def space(self) -> str:
        """The embedding space whose index this store reads and writes."""
        return self._space

    @property
    def data(self) -> MemoryData:
        """The shared backing data, to open the same records in another space."""
        return self._data

    def save(self, items: Sequence[tuple[Decision, Vector | None]]) -> None:
        """Upsert records, then index entries (only for items with a vector), like Chroma."""
        unique = last_per_id(items)
        with self._data.lock:
            self._check_open()
            for decision, _ in unique:
                self._data.records[decision.id] = decision
                self._data.written.append(decision.id)
            self._write_index([(d, v) for d, v in unique if v is not None])
            self._data.revision += 1

    def insert(self, items: Sequence[tuple[Decision, Vector | None]]) -> None:
        """`save`: a dict write replaces an entry whole, so a new id needs nothing else."""
        self.save(items)

    def get(self, decision_id: str) -> Decision | None:
        """The record with exactly this id, or None."""
        with self._data.lock:
            self._check_open()
            return self._data.records.get(decision_id)

    def get_many(
        self, decision_ids: Collection[str], known: Mapping[str, int] | None = None
    ) -> dict[str, Decision]:
        """id → record for the ids that exist (all in memory: `known` changes nothing)."""
        with self._data.lock:
            self._check_open()
            return {i: self._data.records[i] for i in decision_ids if i in self._data.records}

    def changes(self, cursor: int) -> Changes:
        """Facts of the records written after `cursor`, a position in the shared write log.

        The log keeps every write (this store serves tests and benchmark floors, not years of
        data), so a cursor never falls off its start.
        """
        with self._data.lock:
            self._check_open()
            tail = self._data.written[max(0, cursor) :]
            latest = {i: self._data.records[i] for i in dict.fromkeys(tail)}
            return Changes([facts_of(d) for d in latest.values()], len(self._data.written))

    def ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to `limit` ids starting with `prefix`, ascending; an empty prefix matches nothing."""
        if not prefix or limit <= 0:
            return []
        with self._data.lock:
            self._check_open()
            hits = [i for i in self._data.records if i.startswith(prefix)]
        return sorted(hits)[:limit]

    def search(
        self, vector: Vector, flt: DecisionFilter, limit: int, candidates: Candidates | None = None
    ) -> list[ScoredDecision]:
        """Exact cosine scan over this space's index, filtered, nearest first (ties by id);
        `candidates` is not needed (the scan is already exact and cheap)."""
        if limit <= 0:
            return []
        query = _unit(vector)
        with self._data.lock:
            self._check_open()
            index = self._index()
            if index.matrix is None:
                index.order = sorted(index.entries)
                index.matrix = (
                    np.stack([index.entries[i][1] for i in index.order])
                    if index.order
                    else np.zeros((0, query.shape[0]))
                )
            if not index.order:
                return []
            if query.shape[0] != index.dimension:
                raise StoreUnavailable(f"query has dimension {query.shape[0]}, the index {index.dimension}")
            distances = 1.0 - index.matrix @ query
            # `order` is sorted by id, so a stable sort breaks distance ties by id.
            hits: list[ScoredDecision] = []
            for row in np.argsort(distances, kind="stable").tolist():
                decision = index.entries[index.order[row]][0]
                if flt.matches(decision):
                    hits.append(ScoredDecision(decision, float(distances[row])))
                    if len(hits) == limit:
                        break
            return hits

    def list(self, flt: DecisionFilter, limit: int) -> list[Decision]:
        """Up to `limit` matching records, newest first (ties by id, as in the Chroma store)."""
        if limit <= 0:
            return []
        with self._data.lock:
            self._check_open()
            matching = [d for d in self._data.records.values() if flt.matches(d)]
        return newest_first(matching)[:limit]

    def scan(self, flt: DecisionFilter | None = None) -> Iterator[Decision]:
        """Every matching record; iterates over a snapshot so callers may write meanwhile."""
        with self._data.lock:
            self._check_open()
            snapshot = list(self._data.records.values())
        return (d for d in snapshot if flt is None or flt.matches(d))

    def page(self, flt: DecisionFilter | None, offset: int, limit: int) -> DecisionPage:
        """Matching records in insertion order (a dict keeps it across updates), from `offset`."""
        if limit <= 0:
            return []
        with self._data.lock:
            self._check_open()
            matching = [d for d in self._data.records.values() if flt is None or flt.matches(d)]
        return matching[max(offset, 0) : max(offset, 0) + limit]

    def page_records(self, flt: DecisionFilter | None, offset: int, limit: int) -> RecordPage:
        """`page`, encoded with `codec.to_record` (this store keeps decisions, not JSON)."""
        return [
            (d.id, json.dumps(codec.to_record(d), ensure_ascii=False, separators=(",", ":")))
            for d in self.page(flt, offset, limit)
        ]

    def count(self) -> int:
        """Number of records."""
        with self._data.lock:
            self._check_open()
            return len(self._data.records)

    def record_versions(self) -> dict[str, int]:
        """id → rev of every record."""
        with self._data.lock:
            self._check_open()
            return {i: d.rev for i, d in self._data.records.items()}

    def index_versions(self) -> dict[str, int]:
        """id → rev of every entry in this space's index."""
        with self._data.lock:
            self._check_open()
            return {i: d.rev for i, (d, _) in self._index().entries.items()}

    def reset_index(self) -> None:
        """Forget this space's index; the records and other spaces are untouched."""
        with self._data.lock:
            self._check_open()
            self._data.indexes[self._space] = _Index()

    def reindex(self, items: Sequence[tuple[Decision, Vector]]) -> None:
        """Write index entries only (the records already hold these decisions)."""
        with self._data.lock:
            self._check_open()
            self._write_index(last_per_id(items))
            self._data.revision += 1

    def revision(self) -> int:
        """Grows after every save/reindex on the shared data, whichever space's store made it."""
        with self._data.lock:
            return self._data.revision

    def save_edge(self, edge: Edge) -> None:
        """Upsert the edge under its (source, target, type) key, in the shared data."""
        with self._data.lock:
            self._check_open()
            self._data.edges[edge.key] = edge

    def edges(self, node_ids: Collection[str], direction: Direction = "both") -> EdgeList:
        """Every edge touching `node_ids` in `direction` (a scan: the memory store is the floor)."""
        wanted = set(node_ids)
        with self._data.lock:
            self._check_open()
            return [e for e in self._data.edges.values() if touches(e, wanted, direction)]

    def ping(self) -> None:
        """Raise StoreUnavailable once the store is closed; an open memory store always answers."""
        with self._data.lock:
            self._check_open()

    def close(self) -> None:
        """Make this store unusable, like a closed Chroma client; the shared data stays."""
        self._closed = True

    def _index(self) -> _Index:
        return self._data.indexes.setdefault(self._space, _Index())

    def _write_index(self, items: Sequence[tuple[Decision, Vector]]) -> None:
        """Add entries; like a Chroma collection, one space holds one vector dimension."""
        index = self._index()
        vectors = [(d, _unit(v)) for d, v in items]
        for _, vector in vectors:
            if index.dimension is None:
                index.dimension = vector.shape[0]
            elif vector.shape[0] != index.dimension:
                raise StoreUnavailable(f"vector has dimension {vector.shape[0]}, the index {index.dimension}")
        for decision, vector in vectors:
            index.entries[decision.id] = (decision, vector)
        index.matrix = None

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the decision store is closed")


def _unit(vector: Vector) -> _FloatArray:
    """The vector scaled to length 1, so a dot product is the cosine similarity."""
    array = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array
