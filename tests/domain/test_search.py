"""SearchService ranking rules: keyword freshness, hybrid normalisation, list order."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from cstp.adapters.bm25s_index import Bm25sIndex
from cstp.adapters.memory_store import MemoryStore
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision, utcnow
from cstp.domain.search import KeywordSearch, SearchService, _normalise, keyword_distance, tokenize


def make(store: MemoryStore, did: str, text: str, age_days: int = 0) -> Decision:
    d = Decision(
        id=did,
        decision=text,
        category="process",
        confidence=0.5,
        stakes="low",
        date=utcnow() - timedelta(days=age_days),
    )
    store.save([(d, [1.0, float(len(text)), 0.0])])
    return d


def searcher(store: MemoryStore) -> SearchService:
    return SearchService(
        store, lambda texts: [[1.0, 3.0, 0.0] for _ in texts], KeywordSearch(store, Bm25sIndex())
    )


def test_keyword_sees_a_new_decision_immediately_in_a_small_corpus() -> None:
    store = MemoryStore("s")
    svc = searcher(store)
    make(store, "a1", "rotate credentials monthly")
    assert [d.id for d, _ in svc.keyword("credentials", DecisionFilter(), 5)] == ["a1"]
    make(store, "a2", "store credentials in a vault")
    assert {d.id for d, _ in svc.keyword("credentials", DecisionFilter(), 5)} == {"a1", "a2"}


def test_keyword_drops_non_matching_and_applies_filters() -> None:
    store = MemoryStore("s")
    make(store, "a1", "rotate credentials monthly")
    make(store, "a2", "cache sessions")
    svc = searcher(store)
    assert [d.id for d, _ in svc.keyword("credentials", DecisionFilter(), 5)] == ["a1"]
    assert svc.keyword("credentials", DecisionFilter(category="security"), 5) == []
    assert svc.keyword("", DecisionFilter(), 5) == []


def test_normalise_is_min_max_and_all_equal_become_one() -> None:
    assert _normalise({"a": 2.0, "b": 4.0, "c": 3.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert _normalise({"a": 0.3, "b": 0.3}) == {"a": 1.0, "b": 1.0}
    assert _normalise({}) == {}


def test_hybrid_weight_one_follows_semantic_order() -> None:
    store = MemoryStore("s")
    make(store, "a1", "abc")
    make(store, "a2", "abc abc abc abc abc")
    svc = searcher(store)
    result = svc.search("abc", "hybrid", DecisionFilter(), 2, hybrid_weight=1.0)
    assert result.mode == "hybrid"
    assert result.hits[0].decision.id == "a1"  # its vector [1, 3, 0] equals the query's
    assert result.scores["a1"]["semantic"] == 1.0


def test_list_mode_is_newest_first() -> None:
    store = MemoryStore("s")
    make(store, "old", "x", age_days=9)
    make(store, "new", "y", age_days=1)
    result = searcher(store).search("  ", "semantic", DecisionFilter(), 10)
    assert result.mode == "list" and [h.decision.id for h in result.hits] == ["new", "old"]


def test_tokenize_lowercases_words() -> None:
    assert tokenize("Use PostgreSQL, v15!") == ["use", "postgresql", "v15"]


def keyword_ids(kw: KeywordSearch, query: str = "credentials") -> set[str]:
    return {d.id for d, _ in kw.search(query, DecisionFilter(), 10)}


class GatedIndex:
    """A Bm25sIndex whose rebuilds after the first wait for `gate`, so a test can hold one in progress."""

    def __init__(self) -> None:
        self.inner = Bm25sIndex()
        self.builds = 0
        self.entered = threading.Event()
        self.gate = threading.Event()

    def search(self, query: str, flt: DecisionFilter, limit: int) -> list[tuple[Decision, float]]:
        return self.inner.search(query, flt, limit)

    def score(self, query: str, decisions: Sequence[Decision]) -> list[float]:
        return self.inner.score(query, decisions)

    def rebuild(self, decisions: Sequence[Decision]) -> None:
        self.builds += 1
        if self.builds > 1:
            self.entered.set()
            assert self.gate.wait(30)
        self.inner.rebuild(decisions)


def wait_for_ids(kw: KeywordSearch, expected: set[str]) -> bool:
    deadline = time.monotonic() + 30
    while keyword_ids(kw) != expected:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_large_index_lags_writes_by_at_most_the_refresh_interval() -> None:
    store, now = MemoryStore("s"), [0.0]
    make(store, "a1", "rotate credentials monthly")
    kw = KeywordSearch(store, Bm25sIndex(), eager_max=1, refresh_s=2.0, clock=lambda: now[0])
    assert keyword_ids(kw) == {"a1"}
    make(store, "a2", "store credentials in a vault")
    now[0] = 1.9
    assert keyword_ids(kw) == {"a1"}  # within the refresh interval of the last rebuild
    now[0] = 2.0
    assert wait_for_ids(kw, {"a1", "a2"})  # the query asked for a rebuild; it runs in the background


def test_searches_during_a_large_rebuild_answer_from_the_old_or_the_new_index() -> None:
    store, now, index = MemoryStore("s"), [0.0], GatedIndex()
    make(store, "a1", "rotate credentials monthly")
    kw = KeywordSearch(store, index, eager_max=1, refresh_s=2.0, clock=lambda: now[0])
    assert keyword_ids(kw) == {"a1"}
    make(store, "a2", "store credentials in a vault")
    now[0] = 5.0
    with ThreadPoolExecutor(9) as pool:
        rebuilding = pool.submit(keyword_ids, kw)  # finds the index stale and old: asks for a rebuild
        assert index.entered.wait(30)
        assert rebuilding.result(timeout=30) == {"a1"}  # and does not wait for it
        before_swap = [pool.submit(keyword_ids, kw) for _ in range(50)]
        # These finish while the rebuild is held: readers do not wait for it.
        assert all(f.result(timeout=30) == {"a1"} for f in before_swap)
        around_swap = [pool.submit(keyword_ids, kw) for _ in range(400)]
        index.gate.set()
        answers = [f.result(timeout=30) for f in around_swap]
    assert all(a in ({"a1"}, {"a1", "a2"}) for a in answers)
    assert wait_for_ids(kw, {"a1", "a2"}) and index.builds == 2  # single-flight: one rebuild


def test_searches_during_a_small_rebuild_wait_at_most_the_fresh_wait() -> None:
    """A rebuild that does not finish in time (here: held) does not hold the searches: they answer
    from the previous index after `fresh_wait_s`, and all of them share one rebuild."""
    store, index = MemoryStore("s"), GatedIndex()
    make(store, "a1", "rotate credentials monthly")
    kw = KeywordSearch(store, index, fresh_wait_s=0.05)
    assert keyword_ids(kw) == {"a1"}
    make(store, "a2", "store credentials in a vault")
    with ThreadPoolExecutor(8) as pool:
        searches = [pool.submit(keyword_ids, kw) for _ in range(100)]
        assert index.entered.wait(30)
        assert all(f.result(timeout=30) == {"a1"} for f in searches)  # answered while held
        index.gate.set()
    assert wait_for_ids(kw, {"a1", "a2"})
    assert index.builds <= 3  # the first build, the held one, at most one after it


class SlowIndex(Bm25sIndex):
    """A Bm25sIndex whose every rebuild takes `seconds` on the test's clock."""

    def __init__(self, now: list[float], seconds: float) -> None:
        super().__init__()
        self.now, self.seconds, self.builds = now, seconds, 0

    def rebuild(self, decisions: Sequence[Decision]) -> None:
        self.builds += 1
        self.now[0] += self.seconds
        super().rebuild(decisions)


def test_rebuilds_take_at_most_their_duty_of_the_time() -> None:
    """After a background rebuild that took 1 s, with duty 0.25 the next one waits until 3 s have
    passed: queries meanwhile answer from the index in use, and the writes of the rest share one
    rebuild."""
    store, now = MemoryStore("s"), [0.0]
    index = SlowIndex(now, 1.0)
    make(store, "a1", "rotate credentials monthly")
    kw = KeywordSearch(store, index, duty=0.25, fresh_wait_s=0.01, clock=lambda: now[0])
    assert keyword_ids(kw) == {"a1"}  # the first build runs in the query: no rest after it
    make(store, "a2", "store credentials in a vault")
    assert wait_for_ids(kw, {"a1", "a2"}) and index.builds == 2  # in the background, 1 s → 2 s
    make(store, "a3", "credentials expire")
    now[0] = 4.9  # the rest lasts until 2 + 3 = 5 s
    for _ in range(20):
        assert keyword_ids(kw) == {"a1", "a2"}
    make(store, "a4", "credentials leak")
    assert index.builds == 2
    now[0] = 5.0
    assert wait_for_ids(kw, {"a1", "a2", "a3", "a4"}) and index.builds == 3


def test_duty_must_be_a_share_of_the_time() -> None:
    for duty in (0.0, -1.0, 1.5):
        with pytest.raises(ValueError):
            KeywordSearch(MemoryStore("s"), Bm25sIndex(), duty=duty)


def test_a_quiet_small_index_shows_a_write_at_once() -> None:
    store = MemoryStore("s")
    make(store, "a1", "rotate credentials monthly")
    kw = KeywordSearch(store, Bm25sIndex())
    assert keyword_ids(kw) == {"a1"}
    make(store, "a2", "store credentials in a vault")
    assert keyword_ids(kw) == {"a1", "a2"}


def test_keyword_distance_is_one_minus_a_tenth_of_the_score_clipped_to_zero_to_one() -> None:
    assert [keyword_distance(s) for s in (0.0, 2.5, 7.31234, 10.0, 12.0, 400.0)] == [
        1.0,
        0.75,
        0.2688,
        0.0,
        0.0,
        0.0,
    ]
    store = MemoryStore("s")
    for i in range(20):
        make(store, f"d{i:02d}", f"filler text number{i}")
    make(store, "rare", "zebra zebra zebra zebra")
    result = searcher(store).search("zebra zebra zebra zebra filler", "keyword", DecisionFilter(), 5)
    assert result.scores["rare"]["keyword"] > 10
    distances = [h.distance for h in result.hits]
    assert all(0.0 <= x <= 1.0 for x in distances) and distances == sorted(distances)


def test_list_mode_answers_from_newest_and_falls_back_to_the_store() -> None:
    store = MemoryStore("s")
    old, new = make(store, "a1", "rotate credentials", age_days=3), make(store, "a2", "vault")
    asked: list[tuple[DecisionFilter, int]] = []

    def newest(flt: DecisionFilter, limit: int) -> list[Decision] | None:
        asked.append((flt, limit))
        return [old] if len(asked) == 1 else None

    svc = SearchService(
        store, lambda texts: [[1.0, 3.0, 0.0] for _ in texts], KeywordSearch(store, Bm25sIndex()), newest
    )
    flt = DecisionFilter(category="process")
    assert [h.decision.id for h in svc.search("", "semantic", flt, 7).hits] == ["a1"]  # from newest
    assert [h.decision.id for h in svc.search("", "list", DecisionFilter(), 7).hits] == [new.id, old.id]
    assert asked == [(flt, 7), (DecisionFilter(), 7)]


class CountingScans(MemoryStore):
    """A MemoryStore counting full scans; `gate` (when set) holds the next scan until released."""

    def __init__(self) -> None:
        super().__init__("s")
        self.scans = 0
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def scan(self, flt: DecisionFilter | None = None):  # type: ignore[no-untyped-def]
        self.scans += 1
        snapshot = list(super().scan(flt))  # what the scan read: before the gate
        if self.gate is not None:
            self.entered.set()
            assert self.gate.wait(30)
        return iter(snapshot)


def written(kw: KeywordSearch, store: MemoryStore, did: str, text: str) -> Decision:
    """A write as the server's write path makes it: stored inside `writing`."""
    d = Decision(id=did, decision=text, category="process", confidence=0.5, stakes="low", date=utcnow())
    with kw.writing([d]):
        store.save([(d, None)])
    return d


def test_reported_writes_are_indexed_without_reading_the_store_again() -> None:
    store = CountingScans()
    kw = KeywordSearch(store, Bm25sIndex(), fresh_wait_s=5.0)
    make(store, "a1", "rotate credentials monthly")
    assert keyword_ids(kw) == {"a1"} and store.scans == 1  # the first build scans
    written(kw, store, "a2", "credentials in the vault")
    revised = dataclasses.replace(store.get("a1"), decision="rotate keys monthly", rev=2)  # type: ignore[type-var]
    with kw.writing([revised]):
        store.save([(revised, None)])
    assert keyword_ids(kw) == {"a2"}  # the new one found, the revised one no longer matching
    assert store.scans == 1
    make(store, "a3", "credentials around the write path")  # not reported: the store is read
    assert keyword_ids(kw) == {"a2", "a3"} and store.scans == 2


def test_a_write_reported_during_a_scan_is_not_lost() -> None:
    store = CountingScans()
    kw = KeywordSearch(store, Bm25sIndex(), fresh_wait_s=5.0)
    make(store, "a1", "rotate credentials monthly")
    store.gate = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(keyword_ids, kw)  # the first build: its scan is held at the gate
        assert store.entered.wait(30)
        late = Decision(
            id="a2", decision="credentials in the vault", category="process", confidence=0.5,
            stakes="low", date=utcnow(),
        )  # fmt: skip
        with kw.writing([late]):
            store.data.records[late.id] = late  # stored, but after the held scan read the records
        store.gate.set()
        assert first.result(timeout=30) >= {"a1"}
    store.gate = None
    written(kw, store, "a3", "credentials rotated")  # a reported write: the next rebuild is in memory
    assert keyword_ids(kw) == {"a1", "a2", "a3"}
    assert store.scans == 1


def test_this_process_s_writes_are_found_without_waiting_for_the_rebuild() -> None:
    """While the rebuild after them is held, a query finds the new decision and the revised one's
    new text (not its old text), with the scores the rebuild then gives them. Before, every query
    after a write waited `fresh_wait_s` for the rebuild (here 5 s, then the old index's answer)."""
    store, index = CountingScans(), GatedIndex()
    make(store, "a1", "rotate credentials monthly")
    make(store, "a2", "keep the api keys in a vault")
    kw = KeywordSearch(store, index, fresh_wait_s=5.0)
    assert keyword_ids(kw) == {"a1"}
    new = written(kw, store, "a3", "credentials expire after ninety days")
    revised = dataclasses.replace(store.get("a2"), decision="keep credentials in a vault", rev=2)  # type: ignore[type-var]
    with kw.writing([revised]):
        store.save([(revised, None)])
    gone = dataclasses.replace(store.get("a1"), decision="rotate keys monthly", rev=2)  # type: ignore[type-var]
    with kw.writing([gone]):
        store.save([(gone, None)])
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(lambda: kw.search("credentials", DecisionFilter(), 10))
        pending = held.result(timeout=4)  # within the fresh wait: it did not wait
        assert index.entered.wait(30)  # the rebuild it asked for is held
        assert [(d.id, d.rev) for d, _ in pending] in ([("a2", 2), ("a3", 1)], [("a3", 1), ("a2", 2)])
        assert keyword_ids(kw, "vault") == {"a2"} and keyword_ids(kw, "rotate") == {"a1"}
        assert keyword_ids(kw, "monthly keys") == {"a1"}  # the revision's text, not the old one
        assert [d.id for d, _ in kw.search("credentials", DecisionFilter(category="security"), 10)] == []
        index.gate.set()
    assert wait_for_ids(kw, {"a2", "a3"})
    assert new in [d for d, _ in kw.search("ninety", DecisionFilter(), 10)]
    assert store.scans == 1 and index.builds == 2


def test_a_new_decision_found_before_the_rebuild_has_the_score_the_rebuild_gives_it() -> None:
    store, index = MemoryStore("s"), GatedIndex()
    for i in range(6):
        make(store, f"a{i}", f"rotate credentials {'monthly ' * i}")
    kw = KeywordSearch(store, index)
    assert len(keyword_ids(kw)) == 6
    written(kw, store, "b1", "credentials in a vault, credentials rotated")
    written(kw, store, "b2", "a vault for credentials, zebra")
    early = {d.id: s for d, s in kw.search("credentials vault zebra", DecisionFilter(), 10)}
    assert index.entered.wait(30)
    index.gate.set()
    assert wait_for_ids(kw, {*(f"a{i}" for i in range(6)), "b1", "b2"})
    rebuilt = {d.id: s for d, s in kw.search("credentials vault zebra", DecisionFilter(), 10)}
    assert early.keys() == rebuilt.keys()
    assert early["b1"] == pytest.approx(rebuilt["b1"], rel=1e-12)
    assert early["b2"] == pytest.approx(rebuilt["b2"], rel=1e-12)


def test_writes_without_keyword_queries_ask_for_a_rebuild_once_many_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rebuilds follow queries; past PENDING_REBUILD_AT decisions written since the build, a write
    asks for one itself, so they do not pile up beside the index until the next query."""
    from cstp.domain import search

    monkeypatch.setattr(search, "PENDING_REBUILD_AT", 3)
    store, index = MemoryStore("s"), SlowIndex([0.0], 0.0)
    make(store, "a1", "rotate credentials monthly")
    kw = KeywordSearch(store, index, eager_max=1, refresh_s=1e9)  # queries never ask for one
    assert keyword_ids(kw) == {"a1"} and index.builds == 1
    for i in range(3):
        written(kw, store, f"b{i}", "credentials in a vault")
    assert index.builds == 1  # three beside the index: no rebuild yet
    written(kw, store, "b3", "credentials in a vault")
    deadline = time.monotonic() + 30
    while index.builds < 2:
        assert time.monotonic() < deadline, "no rebuild after the fourth write"
        time.sleep(0.01)
    assert wait_for_ids(kw, {"a1", "b0", "b1", "b2", "b3"})
