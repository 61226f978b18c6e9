"""The browse catalogue gives exactly `domain.browse`'s answers (the reference, over a scan), on
random data full of ties and random queries; it follows writes made through another store on the
same data; and `BrowseService` falls back to the scan for what the catalogue does not keep."""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from cstp.adapters.memory_store import MemoryData, MemoryStore
from cstp.domain import browse
from cstp.domain.browsing import BrowseService
from cstp.domain.catalogue import SEARCH_MAX_LAG_S, Catalogue
from cstp.domain.facts import Changes, facts_of
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision, Review

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CATEGORIES = ("architecture", "process", "integration", "tooling", "security")
STAKES = ("low", "medium", "high", "critical")
AGENTS = (None, "ana", "bo", "cy")
PROJECTS = (None, "acme/a", "acme/b")
TAGS = ("db", "api", "ops", "ui", "perf")
# Few distinct dates and confidences, so sorting and paging cross many ties.
DATES = tuple(NOW - timedelta(days=d, hours=h) for d in (0, 1, 3, 8, 31, 40) for h in (0, 5))


def random_decision(rng: random.Random, i: int) -> Decision:
    d = Decision(
        id=f"{rng.getrandbits(32):08x}",
        decision=f"decision {i}",
        context=rng.choice((None, "Ctx ünï", f"ctx {i % 7}")),
        pattern=rng.choice((None, "pattern", f"p{i % 3}")),
        confidence=rng.choice((0.1, 0.5, 0.5, 0.9)),
        category=rng.choice(CATEGORIES),
        stakes=rng.choice(STAKES),
        date=rng.choice(DATES) - timedelta(microseconds=rng.choice((0, 0, 1))),
        recorded_by=rng.choice(AGENTS),
        project=rng.choice(PROJECTS),
        tags=tuple(rng.sample(TAGS, rng.randint(0, 3))),
    )
    if rng.random() < 0.3:
        d = d.with_review(Review(outcome="success", reviewed_at=d.date, reviewed_by="r"))
    return d


def random_filter(rng: random.Random) -> DecisionFilter:
    def maybe(values: tuple[object, ...]) -> object:
        return rng.choice(values) if rng.random() < 0.3 else None

    after = maybe(DATES)
    return DecisionFilter(
        category=maybe(CATEGORIES),  # type: ignore[arg-type]
        stakes=tuple(rng.sample(STAKES, rng.randint(1, 2))) if rng.random() < 0.3 else (),
        statuses=(rng.choice(("pending", "reviewed")),) if rng.random() < 0.3 else (),
        recorded_by=maybe(("ana", "bo", "nobody")),  # type: ignore[arg-type]
        project=maybe(("acme/a", "acme/b", "none/such")),  # type: ignore[arg-type]
        tags=tuple(rng.sample((*TAGS, "unused"), rng.randint(1, 2))) if rng.random() < 0.3 else (),
        date_after=after,  # type: ignore[arg-type]
        date_before=maybe(DATES),  # type: ignore[arg-type]
    )


def random_query(rng: random.Random) -> browse.ListQuery:
    return browse.ListQuery(
        random_filter(rng),
        search=rng.choice((None, None, "", "?!", "decision 1", "DECISION", "1 2", "ctx", "Ünï 3")),
        sort=rng.choice(browse.SORT_KEYS),
        descending=rng.random() < 0.5,
        limit=rng.choice((1, 5, 20, 500)),
        offset=rng.choice((0, 0, 3, 17, 1000)),
    )


def oracle_page(store: MemoryStore, q: browse.ListQuery) -> tuple[list[str], int]:
    page = browse.list_decisions(store.scan, q)
    return [d.id for d in page.decisions], page.total


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> MemoryStore:
    rng = random.Random(7)
    s = MemoryStore("space")
    s.save([(random_decision(rng, i), None) for i in range(600)])
    return s


def test_pages_equal_the_reference_for_random_queries(store: MemoryStore) -> None:
    catalogue = Catalogue(store)
    catalogue.load()
    rng = random.Random(11)
    for _ in range(400):
        q = random_query(rng)
        assert catalogue.page(q) == oracle_page(store, q), q


def test_stats_equal_the_reference_for_random_filters(store: MemoryStore) -> None:
    catalogue = Catalogue(store)
    catalogue.load()
    rng = random.Random(13)
    for _ in range(150):
        flt = random_filter(rng)
        now = NOW + timedelta(hours=rng.choice((0, 1, 30)))
        assert catalogue.stats(flt, now) == browse.stats(store.scan, flt, now), flt
    whole = catalogue.stats(DecisionFilter(), NOW)
    assert whole is not None and whole.total == 600 and sum(whole.by_category.values()) == 600


def test_nothing_is_answered_before_the_load() -> None:
    catalogue = Catalogue(MemoryStore("space"))
    assert catalogue.page(browse.ListQuery()) is None and catalogue.stats(DecisionFilter(), NOW) is None


def test_writes_through_another_store_show_once_the_lag_has_passed(store: MemoryStore) -> None:
    """A second store object on the same data stands for another process; the catalogue must follow
    what it writes (new decisions, reviews, changed fields and dates) within `max_lag_s`."""
    data: MemoryData = store.data
    clock = Clock()
    catalogue = Catalogue(store, max_lag_s=1.0, clock=clock)
    catalogue.load()
    other = MemoryStore("space", data)
    rng = random.Random(17)
    existing = list(store.scan())
    changed = [
        dataclasses.replace(
            d.with_preserve(True),
            category=rng.choice(CATEGORIES),
            tags=("perf",),
            date=d.date + timedelta(days=1),
        )
        for d in rng.sample(existing, 50)
    ]
    other.save([(d, None) for d in changed] + [(random_decision(rng, 1000 + i), None) for i in range(40)])
    clock.now += 1.0
    for _ in range(100):
        q = random_query(rng)
        assert catalogue.page(q) == oracle_page(store, q), q
    assert catalogue.stats(DecisionFilter(), NOW) == browse.stats(store.scan, DecisionFilter(), NOW)


def test_an_older_revision_reported_again_does_not_undo_a_newer_one(store: MemoryStore) -> None:
    """A catch-up whose read began before this process's write reports the record's older rev: the
    newer one, applied when written, stays."""
    clock = Clock()
    catalogue = Catalogue(store, max_lag_s=1.0, clock=clock)
    catalogue.load()
    d = next(iter(store.scan()))
    newer = dataclasses.replace(d.with_preserve(True), category="security")
    store.save([(newer, None)])
    catalogue.written([newer])
    store.changes = lambda cursor: Changes([facts_of(d)], cursor)  # type: ignore[method-assign]
    clock.now += 1.0
    q = browse.ListQuery(DecisionFilter(category="security"), limit=500)
    assert catalogue.page(q) == oracle_page(store, q)
    assert newer.id in (catalogue.page(q) or ([], 0))[0]


def test_this_processs_writes_show_at_once_without_a_store_read(store: MemoryStore) -> None:
    """What the write path reports (`written`) is in the next answer, before any lag passed, and
    nothing is read from the store for it; so is a write reported while the first load reads."""
    catalogue = Catalogue(store, max_lag_s=60.0, clock=Clock())
    held = HeldStore(store.data)
    loading = Catalogue(held, max_lag_s=60.0, clock=Clock())
    rng = random.Random(23)
    held.hold = True
    assert loading.start_loading()
    assert held.entered.wait(30)  # the first load is reading
    during = random_decision(rng, 3000)
    held.save([(during, None)])  # after the load's read began: the read may not see it
    loading.written([during])
    held.gate.set()
    deadline = time.monotonic() + 30
    while not loading.loaded:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    page = loading.page(browse.ListQuery(limit=1000))
    assert page is not None and during.id in page[0]

    catalogue.load()
    reads: list[int] = []
    changes = store.changes
    store.changes = lambda cursor: (reads.append(cursor), changes(cursor))[1]  # type: ignore[method-assign]
    new = [random_decision(rng, 2000 + i) for i in range(5)]
    reviewed = next(iter(store.scan())).with_review(
        Review(outcome="failure", reviewed_at=NOW, reviewed_by="test")
    )
    store.save([(d, None) for d in [*new, reviewed]])
    catalogue.written([*new, reviewed])
    for _ in range(50):
        q = random_query(rng)
        assert catalogue.page(q) == oracle_page(store, q), q
    assert catalogue.stats(DecisionFilter(), NOW) == browse.stats(store.scan, DecisionFilter(), NOW)
    assert reads == []


class CountingScan:
    def __init__(self, store: MemoryStore) -> None:
        self.store, self.calls = store, 0

    def __call__(self, flt: DecisionFilter) -> list[Decision]:
        self.calls += 1
        return list(self.store.scan(flt))


def test_browse_service_scans_nothing_once_loaded(store: MemoryStore) -> None:
    scan = CountingScan(store)
    catalogue = Catalogue(store)
    service = BrowseService(store, catalogue, scan)
    catalogue.load()
    q = browse.ListQuery(DecisionFilter(category="process"), sort="confidence", limit=50)
    assert service.list(q) == browse.list_decisions(store.scan, q)
    assert service.stats(DecisionFilter(), NOW) == browse.stats(store.scan, DecisionFilter(), NOW)
    assert scan.calls == 0
    searched = service.list(browse.ListQuery(search="decision 12", limit=500))
    assert scan.calls == 0
    # Words match as substrings (see browse.search_matches): "12" also finds 112, 120, 312, ...
    assert sorted(d.decision for d in searched.decisions) == sorted(
        f"decision {i}" for i in range(600) if "12" in str(i)
    )


def test_browse_service_answers_by_scan_until_the_catalogue_loads() -> None:
    class DownStore(MemoryStore):
        def changes(self, cursor: int) -> object:  # type: ignore[override]
            from cstp.domain.errors import StoreUnavailable

            raise StoreUnavailable("down")

    down = DownStore("space")
    down.save([(random_decision(random.Random(3), i), None) for i in range(30)])
    catalogue = Catalogue(down)
    service = BrowseService(down, catalogue)
    q = browse.ListQuery(DecisionFilter(stakes=("high",)), limit=500)
    assert service.list(q) == browse.list_decisions(down.scan, q)  # the load fails; the scan answers
    assert not catalogue.loaded


class HeldStore(MemoryStore):
    """A MemoryStore whose `changes` can be held at a gate, counting the calls and the revision reads."""

    def __init__(self, data: MemoryData) -> None:
        super().__init__("space", data)
        self.hold = False
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.change_reads = 0
        self.revision_reads = 0
        self.counter = threading.Lock()

    def changes(self, cursor: int) -> Changes:
        with self.counter:
            self.change_reads += 1
        if self.hold:
            self.entered.set()
            assert self.gate.wait(30)
        return super().changes(cursor)

    def revision(self) -> int:
        with self.counter:
            self.revision_reads += 1
        return super().revision()


def test_callers_arriving_during_a_catch_up_do_not_wait_for_it(store: MemoryStore) -> None:
    """One caller catches up at a time; the others answer at once from the columns as they are
    (with this process's writes), instead of queueing behind the store read."""
    held = HeldStore(store.data)
    clock = Clock()
    catalogue = Catalogue(held, max_lag_s=1.0, clock=clock)
    catalogue.load()
    rng = random.Random(19)
    other = MemoryStore("space", store.data)
    theirs = random_decision(rng, 2000)
    other.save([(theirs, None)])  # another process's write: only the feed tells of it
    clock.now += 1.0
    held.hold = True
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(catalogue.page, browse.ListQuery(limit=1000))
        assert held.entered.wait(30)
        mine = random_decision(rng, 2001)
        held.save([(mine, None)])
        catalogue.written([mine])
        during = [
            f.result(timeout=30)
            for f in [pool.submit(catalogue.page, browse.ListQuery(limit=1000)) for _ in range(8)]
        ]
        assert not first.done()  # still held: the others did not wait for it
        held.gate.set()
        after_first = first.result(timeout=30)
    assert held.change_reads == 2  # the load and the one catch-up
    assert all(p is not None and p[1] == 601 and mine.id in p[0] for p in during)
    assert after_first is not None and {mine.id, theirs.id} <= set(after_first[0]) and after_first[1] == 602


def test_newest_equals_the_stores_listing_for_random_filters(store: MemoryStore) -> None:
    """queryDecisions' list mode reads the newest ids from the catalogue: the same decisions in the
    same order (newest first, equal dates by ascending id) as `DecisionStore.list`."""
    catalogue = Catalogue(store)
    catalogue.load()
    service = BrowseService(store, catalogue)
    rng = random.Random(23)
    answered = 0
    for _ in range(200):
        flt = random_filter(rng)
        limit = rng.choice((1, 5, 20, 500))
        found = service.newest(flt, limit)
        if not Catalogue.answers(flt):
            assert found is None
            continue
        answered += 1
        assert found is not None
        assert [d.id for d in found] == [d.id for d in store.list(flt, limit)], flt
    assert answered > 100


def test_matching_ids_follow_another_store_within_the_search_lag(store: MemoryStore) -> None:
    """Search candidates lag less than listings: what another process wrote is among them once
    `SEARCH_MAX_LAG_S` has passed (listings may lag by `max_lag_s`), with no store read before."""
    clock = Clock()
    catalogue = Catalogue(store, max_lag_s=60.0, clock=clock)
    assert catalogue.matching_ids(DecisionFilter(category="security")) is None  # starts the load
    catalogue.load()
    rng = random.Random(19)
    for _ in range(100):
        flt = random_filter(rng)
        expected = sorted(d.id for d in store.scan(flt))
        assert sorted(catalogue.matching_ids(flt) or []) == expected, flt
    other = MemoryStore("space", store.data)
    new = [dataclasses.replace(random_decision(rng, 2000 + i), category="security") for i in range(5)]
    own = store.revision()
    store.revision = lambda: own  # type: ignore[method-assign]  # this process wrote nothing since
    other.save([(d, None) for d in new])
    reads: list[int] = []
    changes = store.changes
    store.changes = lambda cursor: (reads.append(cursor), changes(cursor))[1]  # type: ignore[method-assign]
    clock.now += SEARCH_MAX_LAG_S / 4
    assert not {d.id for d in new} & set(catalogue.matching_ids(DecisionFilter(category="security")) or [])
    assert reads == []  # within half the lag: no store read
    clock.now += SEARCH_MAX_LAG_S
    found = set(catalogue.matching_ids(DecisionFilter(category="security")) or [])
    assert {d.id for d in new} <= found
    assert found == {d.id for d in store.scan(DecisionFilter(category="security"))}
    # Fields the columns do not keep: no candidates (the store's own filter answers).
    assert catalogue.matching_ids(DecisionFilter(min_confidence=0.5)) is None


def test_past_half_the_lag_a_catch_up_runs_in_the_background_and_nobody_waits(store: MemoryStore) -> None:
    """Under a steady stream of calls the feed is read behind them: a call past half the bound
    starts the read and answers at once; the next calls see what it read."""
    held = HeldStore(store.data)
    clock = Clock()
    catalogue = Catalogue(held, max_lag_s=1.0, clock=clock)
    catalogue.load()
    theirs = random_decision(random.Random(29), 2000)
    MemoryStore("space", store.data).save([(theirs, None)])  # another process's write
    held.revision = lambda: -(10**9)  # type: ignore[method-assign]  # this process wrote nothing since
    held.hold = True
    clock.now += 0.6
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(catalogue.page, browse.ListQuery(limit=1000)).result(timeout=30)
        assert held.entered.wait(30)  # the background read is held at the gate; the call returned
        assert answer is not None and theirs.id not in answer[0]
        held.gate.set()
        deadline = time.monotonic() + 30
        while theirs.id not in (catalogue.page(browse.ListQuery(limit=1000)) or ([], 0))[0]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert held.change_reads == 2  # the load and the background catch-up


def test_a_write_in_progress_is_not_taken_for_an_unreported_one(store: MemoryStore) -> None:
    """Inside `writing` the store's revision has moved before the report: no feed read for that;
    a write made around the write path still makes the next call read."""
    catalogue = Catalogue(store, max_lag_s=60.0, clock=Clock())
    catalogue.load()
    reads: list[int] = []
    changes = store.changes
    store.changes = lambda cursor: (reads.append(cursor), changes(cursor))[1]  # type: ignore[method-assign]
    rng = random.Random(31)
    mine, around = random_decision(rng, 4000), random_decision(rng, 4001)
    everything = browse.ListQuery(limit=1000)
    with catalogue.writing([mine]):
        store.save([(mine, None)])
        assert catalogue.page(everything) is not None
        assert reads == []
    after = catalogue.page(everything)
    assert after is not None and mine.id in after[0] and reads == []
    store.save([(around, None)])
    seen = catalogue.page(everything)
    assert seen is not None and around.id in seen[0] and len(reads) == 1


def test_ids_with_prefix_equal_the_stores_for_random_prefixes(store: MemoryStore) -> None:
    catalogue = Catalogue(store, clock=Clock())
    assert catalogue.ids_with_prefix("a", 5) is None  # before the load: the caller asks the store
    catalogue.load()
    rng = random.Random(3)
    ids = [d.id for d in store.scan()]
    prefixes = ["", "0", "f", "zz", *(i[: rng.randint(1, 8)] for i in rng.sample(ids, 200))]
    for prefix in prefixes:
        for limit in (0, 1, 3, 11):
            assert catalogue.ids_with_prefix(prefix, limit) == store.ids_with_prefix(prefix, limit), prefix


def test_ids_with_prefix_follow_this_processs_writes_at_once_and_anothers_within_the_lag(
    store: MemoryStore,
) -> None:
    clock = Clock()
    catalogue = Catalogue(store, max_lag_s=1.0, clock=clock)
    catalogue.load()
    assert catalogue.ids_with_prefix("ab", 50) == store.ids_with_prefix("ab", 50)
    rng = random.Random(5)
    mine = [dataclasses.replace(random_decision(rng, 2000 + i), id=f"ab{i:06x}") for i in range(300)]
    store.save([(d, None) for d in mine])
    catalogue.written(mine)  # more than are inserted one by one: sorted again
    assert catalogue.ids_with_prefix("ab", 500) == store.ids_with_prefix("ab", 500)
    one = dataclasses.replace(random_decision(rng, 3000), id="ab000000zz")
    store.save([(one, None)])
    catalogue.written([one])  # one new id: inserted in place
    assert catalogue.ids_with_prefix("ab000000", 5) == ["ab000000", "ab000000zz"]
    other = MemoryStore("space", store.data)  # another process on the same data
    theirs = dataclasses.replace(random_decision(rng, 3001), id="ab000000zy")
    other.save([(theirs, None)])
    clock.now += 1.0
    assert catalogue.ids_with_prefix("ab000000", 5) == ["ab000000", "ab000000zy", "ab000000zz"]
    # Within the lag bound, a prefix that matches nothing reads the feed before it says so: a
    # short id another process wrote a moment ago resolves; one that matches is not read for.
    # (This store's revision counts this process's writes only, as a Chroma store's does.)
    revision = store.revision()
    store.revision = lambda: revision  # type: ignore[method-assign]
    just_now = dataclasses.replace(random_decision(rng, 3002), id="cd000000aa")
    other.save([(just_now, None)])
    reads = []
    inner = store.changes
    store.changes = lambda cursor: reads.append(cursor) or inner(cursor)  # type: ignore[method-assign]
    assert catalogue.ids_with_prefix("ab000000", 5) == ["ab000000", "ab000000zy", "ab000000zz"]
    assert reads == []
    assert catalogue.ids_with_prefix("cd00", 5) == ["cd000000aa"]
    assert catalogue.ids_with_prefix("ee00", 5) == []
    assert len(reads) == 2
