"""DigestCache built from the keyword index's corpus: every decision from memory where it can
vouch for them, the store's scan where it cannot, and never a digest that misses a write for good."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from cstp.adapters.bm25s_index import Bm25sIndex
from cstp.adapters.memory_store import MemoryStore
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision, utcnow
from cstp.domain.search import KeywordSearch
from cstp.runtime.snapshot import DigestCache


class CountingScans(MemoryStore):
    def __init__(self) -> None:
        super().__init__("s")
        self.scans = 0

    def scan(self, flt: DecisionFilter | None = None) -> Iterator[Decision]:
        self.scans += 1
        return super().scan(flt)


def decision(did: str) -> Decision:
    return Decision(
        id=did, decision=f"choice {did}", category="process", confidence=0.5, stakes="low", date=utcnow()
    )


def written(kw: KeywordSearch, store: MemoryStore, d: Decision) -> None:
    """A write as the server's write path makes it: stored inside `writing`."""
    with kw.writing([d]):
        store.save([(d, None)])


def wired() -> tuple[CountingScans, KeywordSearch, DigestCache]:
    store = CountingScans()
    kw = KeywordSearch(store, Bm25sIndex())
    return store, kw, DigestCache(store, source=kw.decisions_as_of)


def test_the_digest_follows_reported_writes_without_scanning_the_store() -> None:
    store, kw, cache = wired()
    store.save([(decision("a1"), None)])
    assert cache.get().profile.total_decisions == 1
    scans = store.scans  # the corpus's first build (made by the digest's first call)
    for i in range(5):
        written(kw, store, decision(f"b{i}"))
        assert cache.get().profile.total_decisions == 2 + i
    assert store.scans == scans == 1


def test_a_write_nobody_reported_is_scanned_for() -> None:
    store, kw, cache = wired()
    written(kw, store, decision("a1"))
    assert cache.get().profile.total_decisions == 1
    scans = store.scans
    store.save([(decision("a2"), None)])  # around the write path: the corpus cannot vouch
    assert cache.get().profile.total_decisions == 2
    assert store.scans == scans + 1


def test_a_write_in_flight_during_a_build_is_in_the_next_one() -> None:
    """The store counted a write whose report has not come yet: the digest built meanwhile from
    memory misses it, but records a revision that makes the next call build again."""
    store, kw, cache = wired()
    written(kw, store, decision("a1"))
    assert cache.get().profile.total_decisions == 1
    stored, release = threading.Event(), threading.Event()

    def slow_write() -> None:
        d = decision("a2")
        with kw.writing([d]):
            store.save([(d, None)])
            stored.set()
            assert release.wait(30)

    with ThreadPoolExecutor(1) as pool:
        writing = pool.submit(slow_write)
        assert stored.wait(30)
        assert cache.get().profile.total_decisions == 1  # in flight: not in the corpus yet
        release.set()
        writing.result(timeout=30)
    assert cache.get().profile.total_decisions == 2
