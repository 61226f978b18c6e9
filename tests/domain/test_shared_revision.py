"""SharedRevision: the store's revision plus the writes other processes made (the change feed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from cstp.adapters.bm25s_index import Bm25sIndex
from cstp.adapters.memory_store import MemoryData, MemoryStore
from cstp.domain.digest import Digest
from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import Vector
from cstp.domain.records import Decision, utcnow
from cstp.domain.search import KeywordSearch
from cstp.domain.shared_revision import OWN_KEPT_S, SharedRevision
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


def settled(shared: SharedRevision, clock: Clock, step: float = 1.0) -> int:
    """The revision once the background first look has finished (the clock moves `step` per try)."""
    deadline = time.monotonic() + 10
    shared.revision()
    while shared._cursor is None and time.monotonic() < deadline:
        time.sleep(0.01)
        clock.now += step
        shared.revision()
    assert shared._cursor is not None, "the first look at the change feed never finished"
    return shared.revision()  # not due again: the first look just set the poll time


def test_own_writes_count_at_once_and_others_after_the_poll_interval() -> None:
    data = MemoryData()
    mine, theirs = ProcessStore(data), ProcessStore(data)
    clock = Clock()
    shared = SharedRevision(mine, poll_s=1.0, clock=clock)  # type: ignore[arg-type]
    start = settled(shared, clock)
    mine.save([(decision("a1"), None)])
    assert shared.revision() == start + 1  # at once, no poll needed
    theirs.save([(decision("b1"), None)])
    clock.now += 0.25
    assert shared.revision() == start + 1  # not looked yet: under half the poll interval
    clock.now += 0.75
    assert shared.revision() > start + 1  # the poll saw the other process's write


def test_own_writes_seen_in_the_feed_do_not_count_again() -> None:
    """What the keyword index relies on to rebuild without a scan: after a look, the revision has
    moved by this process's writes once (through the store) and by the other process's."""
    data = MemoryData()
    mine, theirs = ProcessStore(data), ProcessStore(data)
    clock = Clock()
    shared = SharedRevision(mine, poll_s=1.0, clock=clock)  # type: ignore[arg-type]
    start = settled(shared, clock)
    for i in range(3):
        with shared.writing([d := decision(f"a{i}")]):
            mine.save([(d, None)])
    clock.now += 1
    assert shared.revision() == start + 3  # looked: the feed showed a0-a2, already counted
    theirs.save([(decision("b1"), None)])
    clock.now += 1
    assert shared.revision() == start + 4
    assert shared._own == {}  # each own write forgotten once the feed showed it


def test_an_own_write_that_failed_or_never_showed_is_forgotten() -> None:
    data = MemoryData()
    mine = ProcessStore(data)
    clock = Clock()
    shared = SharedRevision(mine, poll_s=1.0, clock=clock)  # type: ignore[arg-type]
    settled(shared, clock)
    try:
        with shared.writing([decision("f1")]):
            raise OSError("the store refused it")
    except OSError:
        pass
    assert shared._own == {}
    with shared.writing([decision("g1", rev=1)]):
        pass  # registered, but stored at another rev: the feed will never show this key
    clock.now += OWN_KEPT_S + 1
    shared.revision()
    assert shared._own == {}


def test_a_change_reported_again_does_not_count_again() -> None:
    data = MemoryData()
    mine, theirs = ProcessStore(data), ProcessStore(data)
    clock = Clock()
    shared = SharedRevision(mine, poll_s=1.0, clock=clock)  # type: ignore[arg-type]
    settled(shared, clock)
    theirs.save([(decision("b1"), None)])
    clock.now += 1
    seen = shared.revision()
    # The same facts again (what a look-back window reports twice): nothing new.
    shared._cursor = 0
    clock.now += 1
    after = shared.revision()
    assert after == seen  # the rewound read reports b1 again, with the same facts


def test_keyword_search_finds_another_processes_write_within_the_poll() -> None:
    data = MemoryData()
    mine, theirs = ProcessStore(data), ProcessStore(data)
    clock = Clock()
    shared = SharedRevision(mine, poll_s=1.0, clock=clock)  # type: ignore[arg-type]
    keyword = KeywordSearch(mine, Bm25sIndex(), revision=shared.revision)  # type: ignore[arg-type]
    mine.save([(decision("a1", "rotate credentials monthly"), None)])
    assert [d.id for d, _ in keyword.search("credentials", DecisionFilter(), 5)] == ["a1"]
    settled(shared, clock)
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
    shared = SharedRevision(mine, poll_s=1.0, clock=clock)  # type: ignore[arg-type]
    cache = DigestCache(mine, revision=shared.revision)  # type: ignore[arg-type]
    mine.save([(decision("a1"), None)])
    digest: Digest = cache.get()
    assert digest.profile.total_decisions == 1
    settled(shared, clock)
    theirs.save([(decision("b1"), None)])
    clock.now += 1
    assert cache.get().profile.total_decisions == 2


def test_a_write_between_a_caches_first_build_and_the_first_look_is_found() -> None:
    """The first look reports every stored record as seen, including one another process wrote
    after a cache's first scan: the look moves the revision once, so the cache rebuilds."""
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
    shared = SharedRevision(mine, poll_s=1.0, clock=clock)  # type: ignore[arg-type]
    keyword = KeywordSearch(mine, Bm25sIndex(), revision=shared.revision)  # type: ignore[arg-type]
    assert keyword.search("vault", DecisionFilter(), 5) == []  # first build; the first look waits
    theirs.save([(decision("b1", "pin credentials in vault"), None)])
    gate.set()
    deadline = time.monotonic() + 10
    while shared._cursor is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [d.id for d, _ in keyword.search("vault", DecisionFilter(), 5)] == ["b1"]


def test_start_takes_the_first_look_before_any_call() -> None:
    data = MemoryData()
    mine, theirs = ProcessStore(data), ProcessStore(data)
    theirs.save([(decision("b1"), None)])
    shared = SharedRevision(mine, poll_s=1.0, clock=Clock())  # type: ignore[arg-type]
    shared.start()
    deadline = time.monotonic() + 10
    while shared._cursor is None:
        assert time.monotonic() < deadline, "the first look never finished"
        time.sleep(0.01)
    assert shared.revision() == 1  # the one move a first look makes; nothing read at the call
    shared.start()  # once only
