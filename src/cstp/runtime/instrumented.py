"""Timing wrappers: a store and an embedder that report each call's duration."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

from cstp.domain.edges import Direction, Edge, EdgeList
from cstp.domain.facts import Changes
from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import Candidates, DecisionPage, DecisionStore, Embedder, Purpose, RecordPage, Vector
from cstp.domain.records import Decision, ScoredDecision
from cstp.domain.waiting import WouldWait

Observe = Callable[[str, float], None]


class TimedStore:
    """Forwards to a DecisionStore and calls `observe(operation, seconds)` after each call."""

    def __init__(self, inner: DecisionStore, observe: Observe) -> None:
        self._inner = inner
        self._observe = observe

    def _timed(self, op: str, fn: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        try:
            result = fn(*args)
        except WouldWait:
            raise  # it never reached the store: run again on a thread (domain.waiting)
        except BaseException:
            self._observe(op, time.perf_counter() - started)
            raise
        self._observe(op, time.perf_counter() - started)
        return result

    @property
    def space(self) -> str:
        return self._inner.space

    def save(self, items: Sequence[tuple[Decision, Vector | None]]) -> None:
        self._timed("save", self._inner.save, items)

    def insert(self, items: Sequence[tuple[Decision, Vector | None]]) -> None:
        self._timed("insert", self._inner.insert, items)

    def get(self, decision_id: str) -> Decision | None:
        result: Decision | None = self._timed("get", self._inner.get, decision_id)
        return result

    def get_many(
        self, decision_ids: Collection[str], known: Mapping[str, int] | None = None
    ) -> dict[str, Decision]:
        result: dict[str, Decision] = self._timed("get_many", self._inner.get_many, decision_ids, known)
        return result

    def changes(self, cursor: int) -> Changes:
        result: Changes = self._timed("changes", self._inner.changes, cursor)
        return result

    def ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        result: list[str] = self._timed("ids_with_prefix", self._inner.ids_with_prefix, prefix, limit)
        return result

    def search(
        self, vector: Vector, flt: DecisionFilter, limit: int, candidates: Candidates | None = None
    ) -> list[ScoredDecision]:
        result: list[ScoredDecision] = self._timed(
            "search", self._inner.search, vector, flt, limit, candidates
        )
        return result

    def list(self, flt: DecisionFilter, limit: int) -> list[Decision]:
        result: list[Decision] = self._timed("list", self._inner.list, flt, limit)
        return result

    def scan(self, flt: DecisionFilter | None = None) -> Iterator[Decision]:
        return self._inner.scan(flt)

    def page(self, flt: DecisionFilter | None, offset: int, limit: int) -> DecisionPage:
        result: DecisionPage = self._timed("page", self._inner.page, flt, offset, limit)
        return result

    def page_records(self, flt: DecisionFilter | None, offset: int, limit: int) -> RecordPage:
        result: RecordPage = self._timed("page_records", self._inner.page_records, flt, offset, limit)
        return result

    def count(self) -> int:
        result: int = self._timed("count", self._inner.count)
        return result

    def record_versions(self) -> dict[str, int]:
        return self._inner.record_versions()

    def index_versions(self) -> dict[str, int]:
        return self._inner.index_versions()

    def reset_index(self) -> None:
        self._inner.reset_index()

    def reindex(self, items: Sequence[tuple[Decision, Vector]]) -> None:
        self._timed("reindex", self._inner.reindex, items)

    def revision(self) -> int:
        return self._inner.revision()

    def save_edge(self, edge: Edge) -> None:
        self._timed("save_edge", self._inner.save_edge, edge)

    def edges(self, node_ids: Collection[str], direction: Direction = "both") -> EdgeList:
        result: EdgeList = self._timed("edges", self._inner.edges, node_ids, direction)
        return result

    def ping(self) -> None:
        self._inner.ping()

    def close(self) -> None:
        self._inner.close()


class TimedEmbedder:
    """Forwards to an Embedder and reports duration and batch size of each call."""

    def __init__(self, inner: Embedder, observe: Callable[[str, float, int], None]) -> None:
        self._inner = inner
        self._observe = observe

    @property
    def space(self) -> str:
        return self._inner.space

    def embed(self, texts: Sequence[str], purpose: Purpose = "document") -> list[list[float]]:
        started = time.perf_counter()
        try:
            return self._inner.embed(texts, purpose)
        finally:
            self._observe(purpose, time.perf_counter() - started, len(texts))

    def close(self) -> None:
        self._inner.close()
