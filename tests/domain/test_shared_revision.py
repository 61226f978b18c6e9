"""SharedRevision: the store's revision plus the writes other processes made (the change feed,
as the browse catalogue follows it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cstp.adapters.bm25s_index import Bm25sIndex
from cstp.adapters.memory_store import MemoryData, MemoryStore
from cstp.domain import search
from cstp.domain.catalogue import Catalogue
from cstp.domain.digest import Digest
from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import Vector
from cstp.domain.records import Decision, utcnow
from cstp.domain.search import KeywordSearch
from cstp.domain.shared_revision import SharedRevision
from cstp.runtime.snapshot import DigestCache


class ProcessStore:
    """One process's view of a shared store: `revision()` counts only writes made through it,
    as a Chroma store's does (a memory store's revision is shared by every store on its data)."""

    def __init__(self, data: MemoryData) -> None:
        self._inner = MemoryStore("s", data)
        self._own = 0

    def save(self, items: Sequence[tuple[Decision, Vector | None]]) -> None:
        self._inner.save(items)
        self._own += 1

    def revision(self) -> int:
        return self._own

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def decision(did: str, text: str = "rotate credentials monthly", rev: int = 1) -> Decision:
    return Decision(
        id=did, decision=text, category="process", confidence=0.5, stakes="low", date=utcnow(), rev=rev
    )


def shared_on(store: ProcessStore, clock: Clock) -> tuple[SharedRevision, Catalogue]:
    catalogue = Catalogue(store, max_lag_s=1.0, clock=clock)  # type: ignore[arg-type]
    return SharedRevision(store, catalogue, poll_s=1.0), catalogue  # type: ignore[arg-type]


def write_mine(catalogue: Catalogue, store: ProcessStore, d: Decision) -> None:
    """A write through this process's write path, which tells the catalogue (app.writing)."""
    with catalogue.writing([d]):
        store.save([(d, None)])


def settled(shared: SharedRevision, catalogue: Catalogue) -> int:
    """The revision once the catalogue's background first load has finished."""
    deadline = time.monotonic() + 10
    shared.revision()
    while not catalogue.loaded:
        assert time.monotonic() < deadline, "the catalogue's first load never finished"
        time.sleep(0.01)
    return shared.revision()  # not due again: the load just made the model fresh


def test_own_writes_count_at_once_and_others_after_the_poll_interval() -> None:
    data = MemoryData()
    mine, theirs = ProcessStore(data), ProcessStore(data)
    clock = Clock()
    shared, catalogue = shared_on(mine, clock)
    start = settled(shared, catalogue)
    write_mine(catalogue, mine, decision("a1"))
    assert shared.revision() == start + 1  # at once, no poll needed
    theirs.save([(decision("b1"), None)])
    clock.now += 0.25
    assert shared.revision() == start + 1  # not looked yet: under half the poll interval
    clock.now += 0.75
    assert shared.revision() == start + 2  # the poll saw the other process's write, once


def test_own_writes_seen_in_the_feed_do_not_count_again() -> None:
    """What the keyword index relies on to rebuild without a scan: after a look, the revision has
    moved by this process's writes once (through the store) and by the other process's."""
    data = MemoryData()
    mine, theirs = ProcessStore(data), ProcessStore(data)
    clock = Clock()
    shared, catalogue = shared_on(mine, clock)
    start = settled(shared, catalogue)
    for i in range(3):
        write_mine(catalogue, mine, decision(f"a{i}"))
    clock.now += 1
    assert shared.revision() == start + 3  # looked: the feed showed a0-a2, already counted
    theirs.save([(decision("b1"), None)])
    clock.now += 1
    assert shared.revision() == start + 4


def test_an_own_write_the_feed_shows_before_it_returns_does_not_count() -> None:
    data = MemoryData()
    mine = ProcessStore(data)
    clock = Clock()
    shared, catalogue = shared_on(mine, clock)
    start = settled(shared, catalogue)
    d = decision("a1")
    with catalogue.writing([d]):
        mine.save([(d, None)])
        clock.now += 1
        looked = shared.revision()  # the feed reads it while the write path has not returned
    assert looked == start + 1  # the store's own count: the feed did not add it again
    assert shared.revision() == start + 1


def test_a_change_reported_again_does_not_count_again() -> None:
    data = MemoryData()
    mine, theirs = ProcessStore(data), ProcessStore(data)
    clock = Clock()
    shared, catalogue = shared_on(mine, clock)
    settled(shared, catalogue)
    theirs.save([(decision("b1"), None)])
    clock.now += 1
    seen = shared.revision()
    # The same facts again (what a look-back window reports twice): nothing new.
    catalogue._cursor = 0
    clock.now += 1
    assert shared.revision() == seen


def test_keyword_search_finds_another_processes_write_within_the_poll() -> None:
    data = MemoryData()
    mine, theirs = ProcessStore(data), ProcessStore(data)
    clock = Clock()
    shared, catalogue = shared_on(mine, clock)
    keyword = KeywordSearch(mine, Bm25sIndex(), revision=shared.revision)  # type: ignore[arg-type]
    write_mine(catalogue, mine, decision("a1", "rotate credentials monthly"))
    assert [d.id for d, _ in keyword.search("credentials", DecisionFilter(), 5)] == ["a1"]
    settled(shared, catalogue)
    theirs.save([(decision("b1", "pin credentials in vault"), None)])
    clock.now += 1
    found = {d.id for d, _ in keyword.search("vault", DecisionFilter(), 5)}
    assert found == {"b1"}


def test_keyword_search_on_the_store_revision_alone_misses_it() -> None:
    """What SharedRevision is for: the plain per-process revision never sees the other write."""
    data = MemoryData()
    mine, theirs = ProcessStore(data), ProcessStore(data)
    keyword = KeywordSearch(mine, Bm25sIndex())  # type: ignore[arg-type]
    mine.save([(decision("a1"), None)])
    keyword.search("credentials", DecisionFilter(), 5)
    theirs.save([(decision("b1", "pin credentials in vault"), None)])
    assert keyword.search("vault", DecisionFilter(), 5) == []


def test_the_digest_follows_another_processes_write() -> None:
    data = MemoryData()
    mine, theirs = ProcessStore(data), ProcessStore(data)
    clock = Clock()
    shared, catalogue = shared_on(mine, clock)
    cache = DigestCache(mine, revision=shared.revision)  # type: ignore[arg-type]
    write_mine(catalogue, mine, decision("a1"))
    digest: Digest = cache.get()
    assert digest.profile.total_decisions == 1
    settled(shared, catalogue)
    theirs.save([(decision("b1"), None)])
    clock.now += 1
    assert cache.get().profile.total_decisions == 2


def test_a_write_between_a_caches_first_build_and_the_first_load_is_found() -> None:
    """The first load holds every stored record, including one another process wrote after a
    cache's first scan: the load moves the revision once, so the cache rebuilds."""
    data = MemoryData()
    mine, theirs = ProcessStore(data), ProcessStore(data)
    gate = threading.Event()
    real_changes = mine._inner.changes

    def gated_changes(cursor: int) -> Any:
        if cursor == 0:
            gate.wait(10)
        return real_changes(cursor)

    mine.changes = gated_changes  # type: ignore[attr-defined]
    clock = Clock()
    shared, catalogue = shared_on(mine, clock)
    keyword = KeywordSearch(mine, Bm25sIndex(), revision=shared.revision)  # type: ignore[arg-type]
    assert keyword.search("vault", DecisionFilter(), 5) == []  # first build; the first load waits
    theirs.save([(decision("b1", "pin credentials in vault"), None)])
    gate.set()
    deadline = time.monotonic() + 10
    while not catalogue.loaded:
        assert time.monotonic() < deadline, "the first load never finished"
        time.sleep(0.01)
    assert [d.id for d, _ in keyword.search("vault", DecisionFilter(), 5)] == ["b1"]


class ScanCountingStore(ProcessStore):
    def __init__(self, data: MemoryData) -> None:
        super().__init__(data)
        self.scans = 0
        self.fail_reads = False

    def scan(self, flt: DecisionFilter | None = None) -> Any:
        self.scans += 1
        return self._inner.scan(flt)

    def get_many(self, ids: Any, known: Any = None) -> dict[str, Decision]:
        if self.fail_reads:
            raise ConnectionError("store down")
        return self._inner.get_many(ids, known)


class HeldIndex(Bm25sIndex):
    """Rebuilds after the first wait for `gate`: a query answered meanwhile did not wait for one."""

    def __init__(self) -> None:
        super().__init__()
        self.builds = 0
        self.gate = threading.Event()

    def rebuild(self, decisions: Sequence[Decision]) -> None:
        self.builds += 1
        if self.builds > 1:
            assert self.gate.wait(30)
        super().rebuild(decisions)


def following(index: Bm25sIndex, **kw: float) -> tuple[ScanCountingStore, ProcessStore, Clock, KeywordSearch]:
    """This process's keyword index following the feed (as the server wires it), one decision of
    its own ("a1") found, and another process on the same data."""
    data = MemoryData()
    mine, theirs = ScanCountingStore(data), ProcessStore(data)
    clock = Clock()
    shared, catalogue = shared_on(mine, clock)
    keyword = KeywordSearch(mine, index, revision=shared.revision, **kw)  # type: ignore[arg-type]
    catalogue.follow_remote(keyword.written_elsewhere)
    write_mine(catalogue, mine, decision("a1", "rotate credentials monthly"))
    settled(shared, catalogue)
    assert [d.id for d, _ in keyword.search("credentials", DecisionFilter(), 5)] == ["a1"]
    return mine, theirs, clock, keyword


def test_another_processes_writes_are_found_from_the_feed_without_a_scan_or_a_wait() -> None:
    """The feed's changes another process made are read by id and taken like this process's
    own writes: found while the rebuild after them is held, and that rebuild reads nothing."""
    index = HeldIndex()
    mine, theirs, clock, keyword = following(index, fresh_wait_s=30.0)
    scans = mine.scans
    theirs.save([(decision("b1", "pin credentials in vault"), None)])
    theirs.save([(decision("a1", "rotate keys monthly", rev=2), None)])
    clock.now += 1
    with ThreadPoolExecutor(1) as pool:  # the held rebuild would hold this query for 30 s
        found = pool.submit(lambda: {d.id for d, _ in keyword.search("credentials", DecisionFilter(), 5)})
        assert found.result(timeout=10) == {"b1"}
        assert {d.id for d, _ in keyword.search("keys", DecisionFilter(), 5)} == {"a1"}
        index.gate.set()
    assert mine.scans == scans


def test_a_feed_change_that_cannot_be_read_back_is_scanned_for() -> None:
    mine, theirs, clock, keyword = following(Bm25sIndex())
    scans = mine.scans
    mine.fail_reads = True
    theirs.save([(decision("b1", "pin credentials in vault"), None)])
    clock.now += 1
    assert {d.id for d, _ in keyword.search("vault", DecisionFilter(), 5)} == {"b1"}
    assert mine.scans == scans + 1


def test_a_bulk_of_other_processes_writes_is_left_to_a_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """More feed changes at once than `REMOTE_TAKE_MAX` (a bulk import elsewhere) are not read
    back one by one: the rebuild scans for them, and the query still finds them."""
    monkeypatch.setattr(search, "REMOTE_TAKE_MAX", 1)
    mine, theirs, clock, keyword = following(Bm25sIndex())
    scans = mine.scans
    theirs.save([(decision("b1", "pin credentials in vault"), None)])
    theirs.save([(decision("b2", "a vault for the credentials"), None)])
    clock.now += 1
    assert {d.id for d, _ in keyword.search("vault", DecisionFilter(), 5)} == {"b1", "b2"}
    assert mine.scans == scans + 1
