"""The DecisionStore contract, run against every implementation.

Each test runs on the in-memory reference store, embedded Chroma (in tmp_path) and a real Chroma
server on loopback. `DecisionFilter.matches` is the reference semantics for filters; every filter
case also asserts that its expected ids agree with it, so a wrong expectation cannot pass.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cstp.adapters.chroma.store import ChromaStore
from cstp.adapters.memory_store import MemoryData, MemoryStore
from cstp.domain import codec
from cstp.domain.errors import StoreUnavailable
from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import DecisionStore, Vector
from cstp.domain.records import Decision, Reason, Review
from tests.chroma_server import free_port, start_chroma_server, stop_chroma_server

SPACE = "test-space-a"
OTHER_SPACE = "test-space-b"
BACKENDS = [
    "memory",
    "chroma-embedded",
    pytest.param("chroma-server", marks=pytest.mark.chroma_server),
]

Opener = Callable[[str], DecisionStore]


def _opener(kind: str, tmp: Path, request: pytest.FixtureRequest) -> Opener:
    """A function opening a store for a space; all spaces share the same records."""
    if kind == "memory":
        data = MemoryData()
        return lambda space: MemoryStore(space, data)
    if kind == "chroma-embedded":
        return lambda space: ChromaStore.embedded(tmp / "chroma", prefix="cstp", space=space)
    url = request.getfixturevalue("chroma_server_url")
    prefix = f"t{uuid.uuid4().hex[:12]}"  # one database per test on the shared server
    return lambda space: ChromaStore.server(url, prefix=prefix, space=space, timeout=10.0)


class Backend:
    """Opens stores on one backend and closes them all at teardown."""

    def __init__(self, kind: str, opener: Opener) -> None:
        self.kind = kind
        self._opener = opener
        self._opened: list[DecisionStore] = []

    def open(self, space: str = SPACE) -> DecisionStore:
        store = self._opener(space)
        self._opened.append(store)
        return store

    def close(self) -> None:
        for store in reversed(self._opened):
            store.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = Backend(request.param, _opener(request.param, tmp_path, request))
    yield b
    b.close()


@pytest.fixture
def store(backend: Backend) -> DecisionStore:
    return backend.open()


# --- data ----------------------------------------------------------------------------------------

T0 = datetime(2024, 1, 10, tzinfo=UTC)


def make(decision_id: str, **fields: object) -> Decision:
    values: dict[str, object] = {
        "id": decision_id,
        "decision": f"decision {decision_id}",
        "category": "architecture",
        "confidence": 0.7,
        "stakes": "medium",
        "date": T0,
    }
    values.update(fields)
    return Decision(**values)  # type: ignore[arg-type]


def reviewed(d: Decision, outcome: str) -> Decision:
    return d.with_review(Review(outcome=outcome, reviewed_at=d.date, reviewed_by="reviewer"))


def full_decision() -> Decision:
    """A decision with every field set, including the long tail in `details` and a review."""
    d = Decision(
        id="f00dcafe",
        decision='Use PostgreSQL for billing — «ünïcode» and "quotes"',
        category="integration",
        confidence=0.85,
        stakes="high",
        date=datetime(2024, 6, 1, 8, 30, 15, 123456, tzinfo=UTC),
        status="pending",
        context="We need ACID transactions",
        reasons=(Reason("analysis", "benchmarks", 0.9), Reason("authority", "team lead")),
        tags=("db", "billing"),
        pattern="choose boring tech",
        recorded_by="agent-7",
        project="acme/billing",
        feature="invoices",
        pr=42,
        file="src/db.py",
        line=17,
        commit="abc123",
        details={
            "trace": [{"step": 1, "note": "looked at options"}],
            "bridge": {"structure": "RDBMS", "function": "ledger"},
            "kpi_indicators": ["latency", "cost"],
            "mental_state": "deliberate",
        },
    )
    return d.with_review(
        Review(
            outcome="partial",
            reviewed_at=datetime(2024, 7, 1, tzinfo=UTC),
            reviewed_by="bob",
            actual_result="worked, slow migrations",
            lessons="plan migrations",
            review_notes="ok",
            affected_kpis={"latency": -0.1, "cost": 0.2},
        )
    )


# Five decisions spanning every filterable field; vectors are distinct directions in 4-d.
D1 = make(
    "d1000001", category="architecture", confidence=0.9, stakes="high", date=T0,
    project="billing", feature="invoices", pr=12, tags=("db", "postgres"), recorded_by="alice",
)  # fmt: skip
D2 = reviewed(
    make(
        "d2000002", category="process", confidence=0.5, stakes="low",
        date=T0 + timedelta(days=31), project="billing", feature="payments", pr=13,
        tags=("process",), recorded_by="bob",
    ),
    "success",
)  # fmt: skip
D3 = reviewed(
    make(
        "d3000003", category="architecture", confidence=0.3, stakes="critical",
        date=T0 + timedelta(days=60), project="search", tags=("db",), recorded_by="alice",
    ),
    "failure",
)  # fmt: skip
D4 = make(
    "d4000004", category="security", confidence=0.7, stakes="medium",
    date=datetime(2024, 4, 10, 12, 0, 0, 500000, tzinfo=UTC),
)  # fmt: skip
D5 = make(
    "d5000005", category="tooling", confidence=1.0, stakes="low",
    date=datetime(2024, 5, 10, tzinfo=UTC), project="search", feature="ranking", pr=12,
    tags=("ranking", "ml"), recorded_by="carol",
)  # fmt: skip
CORPUS: list[tuple[Decision, Vector]] = [
    (D1, [1.0, 0.0, 0.0, 0.0]),
    (D2, [0.8, 0.6, 0.0, 0.0]),
    (D3, [0.0, 1.0, 0.0, 0.0]),
    (D4, [0.0, 0.0, 1.0, 0.0]),
    (D5, [0.0, 0.0, 0.6, 0.8]),
]
ALL = {d.id for d, _ in CORPUS}


def ids(*decisions: Decision) -> set[str]:
    return {d.id for d in decisions}


FILTER_CASES: dict[str, tuple[DecisionFilter, set[str]]] = {
    "empty": (DecisionFilter(), ALL),
    "category": (DecisionFilter(category="architecture"), ids(D1, D3)),
    "min_confidence inclusive": (DecisionFilter(min_confidence=0.7), ids(D1, D4, D5)),
    "max_confidence inclusive": (DecisionFilter(max_confidence=0.5), ids(D2, D3)),
    "confidence range": (DecisionFilter(min_confidence=0.4, max_confidence=0.8), ids(D2, D4)),
    "date_after inclusive": (DecisionFilter(date_after=D3.date), ids(D3, D4, D5)),
    "date_before inclusive": (DecisionFilter(date_before=D2.date), ids(D1, D2)),
    "date_before sub-second": (
        DecisionFilter(date_before=datetime(2024, 4, 10, 12, 0, 0, tzinfo=UTC)),
        ids(D1, D2, D3),
    ),
    "date_after naive is UTC": (
        DecisionFilter(date_after=datetime(2024, 4, 10, 12, 0, 0, 500000)),
        ids(D4, D5),
    ),
    "date window": (
        DecisionFilter(date_after=T0 + timedelta(days=1), date_before=D3.date),
        ids(D2, D3),
    ),
    "stakes any of": (DecisionFilter(stakes=("low", "critical")), ids(D2, D3, D5)),
    "statuses": (DecisionFilter(statuses=("reviewed",)), ids(D2, D3)),
    "has_outcome true": (DecisionFilter(has_outcome=True), ids(D2, D3)),
    "has_outcome false": (DecisionFilter(has_outcome=False), ids(D1, D4, D5)),
    "statuses and has_outcome intersect to nothing": (
        DecisionFilter(statuses=("pending",), has_outcome=True),
        set(),
    ),
    "statuses and has_outcome intersect": (
        DecisionFilter(statuses=("pending", "reviewed"), has_outcome=False),
        ids(D1, D4, D5),
    ),
    "project": (DecisionFilter(project="billing"), ids(D1, D2)),
    "feature": (DecisionFilter(feature="ranking"), ids(D5)),
    "pr": (DecisionFilter(pr=12), ids(D1, D5)),
    "one tag": (DecisionFilter(tags=("db",)), ids(D1, D3)),
    "any of several tags": (DecisionFilter(tags=("postgres", "ml")), ids(D1, D5)),
    "unknown tag": (DecisionFilter(tags=("nope",)), set()),
    "recorded_by": (DecisionFilter(recorded_by="alice"), ids(D1, D3)),
    "combined category project confidence": (
        DecisionFilter(category="architecture", project="billing", min_confidence=0.5),
        ids(D1),
    ),
    "combined tags and outcome": (DecisionFilter(tags=("db",), has_outcome=True), ids(D3)),
    "combined stakes pr date": (
        DecisionFilter(stakes=("low",), pr=12, date_after=datetime(2024, 5, 1, tzinfo=UTC)),
        ids(D5),
    ),
    "nothing matches every condition": (
        DecisionFilter(category="security", project="billing"),
        set(),
    ),
}


@pytest.fixture(params=BACKENDS, scope="module")
def corpus_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DecisionStore]:
    """A store holding CORPUS, shared read-only by the filter cases of one backend."""
    b = Backend(request.param, _opener(request.param, tmp_path_factory.mktemp("corpus"), request))
    s = b.open()
    s.save(CORPUS)
    yield s
    b.close()


# --- round trips ---------------------------------------------------------------------------------


def test_get_returns_every_field_saved(store: DecisionStore) -> None:
    d = full_decision()
    store.save([(d, [1.0, 0.0, 0.0])])
    assert store.get(d.id) == d


def test_search_returns_the_whole_decision(store: DecisionStore) -> None:
    d = full_decision()
    store.save([(d, [1.0, 0.0, 0.0])])
    [hit] = store.search([1.0, 0.0, 0.0], DecisionFilter(), 5)
    assert hit.decision == d


def test_get_unknown_id_is_none(store: DecisionStore) -> None:
    store.save([(make("a0000001"), [1.0, 0.0])])
    assert store.get("a0000002") is None


def test_ids_with_prefix_lists_every_match_ascending_up_to_the_limit(store: DecisionStore) -> None:
    # Newest first would be wrong here: the service must see every candidate to refuse a guess.
    older = make("abc12345", date=T0)
    newer = make("abc99999", date=T0 + timedelta(days=1))
    store.save([(newer, [0.0, 1.0]), (older, [1.0, 0.0]), (make("zzz00000"), [1.0, 1.0])])
    assert store.ids_with_prefix("abc", 10) == ["abc12345", "abc99999"]
    assert store.ids_with_prefix("abc", 1) == ["abc12345"]
    assert store.ids_with_prefix("abc9", 10) == ["abc99999"]
    assert store.ids_with_prefix("abc12345", 10) == ["abc12345"]  # a full id is its own prefix
    assert store.ids_with_prefix("ABC", 10) == []  # ids are case-sensitive
    assert store.ids_with_prefix("nope", 10) == []
    assert store.ids_with_prefix("", 10) == []
    assert store.ids_with_prefix("abc", 0) == []


def test_duplicate_ids_in_one_save_keep_the_last(store: DecisionStore) -> None:
    first, last = make("dup00001", confidence=0.1), make("dup00001", confidence=0.9)
    store.save([(first, [1.0, 0.0]), (last, [0.0, 1.0])])
    assert store.get("dup00001") == last
    assert store.count() == 1


# --- search --------------------------------------------------------------------------------------


def test_search_orders_nearest_first_with_cosine_distance(store: DecisionStore) -> None:
    store.save(CORPUS)
    hits = store.search([1.0, 0.1, 0.0, 0.0], DecisionFilter(), 3)
    assert [h.decision.id for h in hits] == [D1.id, D2.id, D3.id]
    # Cosine distance = 1 - cos; vectors of any length (the query here is not unit length).
    assert hits[0].distance == pytest.approx(1 - 1 / (1.01**0.5), abs=1e-4)
    assert hits[2].distance == pytest.approx(1 - 0.1 / (1.01**0.5), abs=1e-4)


def test_search_respects_limit(store: DecisionStore) -> None:
    store.save(CORPUS)
    assert len(store.search([1.0, 0.0, 0.0, 0.0], DecisionFilter(), 2)) == 2
    assert store.search([1.0, 0.0, 0.0, 0.0], DecisionFilter(), 0) == []


def test_search_on_an_empty_store_finds_nothing(store: DecisionStore) -> None:
    assert store.search([1.0, 0.0, 0.0, 0.0], DecisionFilter(), 5) == []


@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_filter_selects_exactly_the_matching_decisions(corpus_store: DecisionStore, case: str) -> None:
    flt, expected = FILTER_CASES[case]
    assert expected == {d.id for d, _ in CORPUS if flt.matches(d)}, "expectation disagrees"

    hits = corpus_store.search([0.5, 0.5, 0.5, 0.5], flt, 10)
    assert {h.decision.id for h in hits} == expected
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)

    listed = corpus_store.list(flt, 10)
    newest_first = sorted((d for d, _ in CORPUS if d.id in expected), key=lambda d: d.date)[::-1]
    assert [d.id for d in listed] == [d.id for d in newest_first]
    assert {d.id for d in corpus_store.scan(flt)} == expected


@pytest.mark.parametrize("tag", ["with space", "ünï-cödé", "a:b", "$in", "#document", "x" * 300])
def test_unusual_tags_are_filterable(store: DecisionStore, tag: str) -> None:
    tagged, other = make("t0000001", tags=(tag, "plain")), make("t0000002", tags=("plain",))
    store.save([(tagged, [1.0, 0.0]), (other, [0.0, 1.0])])
    flt = DecisionFilter(tags=(tag,))
    assert [h.decision.id for h in store.search([0.0, 1.0], flt, 5)] == [tagged.id]
    assert [d.id for d in store.list(flt, 5)] == [tagged.id]


# --- list, scan, count ---------------------------------------------------------------------------


def test_list_returns_newest_first_up_to_limit(store: DecisionStore) -> None:
    store.save(CORPUS)
    assert [d.id for d in store.list(DecisionFilter(), 3)] == [D5.id, D4.id, D3.id]
    assert [d.id for d in store.list(DecisionFilter(project="search"), 1)] == [D5.id]
    assert store.list(DecisionFilter(), 0) == []


def test_list_breaks_date_ties_by_id(store: DecisionStore) -> None:
    same = [make(i, date=T0) for i in ("c0000003", "c0000001", "c0000002")]
    store.save([(d, [1.0, 0.0]) for d in same])
    assert [d.id for d in store.list(DecisionFilter(), 10)] == ["c0000001", "c0000002", "c0000003"]


def test_list_is_newest_first_across_recent_and_old_dates(store: DecisionStore) -> None:
    # Dates from an hour ago to three years back, saved in shuffled order: listing reads recent
    # date slices first and must still return exactly the newest, in order, for any limit/filter.
    now = datetime.now(UTC)
    ages = [0.04, 0.5, 2, 3, 6, 10, 20, 45, 80, 100, 200, 400, 800, 1100]
    decisions = [
        make(f"e{n:07d}", date=now - timedelta(days=age), stakes="high" if n % 2 else "low")
        for n, age in enumerate(ages)
    ]
    store.save([(d, [1.0, 0.0]) for d in reversed(decisions)])
    newest = [d.id for d in decisions]
    for limit in (1, 2, 5, 9, 14, 50):
        assert [d.id for d in store.list(DecisionFilter(), limit)] == newest[:limit]
    high = [d.id for d in decisions if d.stakes == "high"]
    assert [d.id for d in store.list(DecisionFilter(stakes=("high",)), 4)] == high[:4]
    before = DecisionFilter(date_before=now - timedelta(days=50))
    assert [d.id for d in store.list(before, 3)] == [d.id for d in decisions[8:11]]
    between = DecisionFilter(date_after=now - timedelta(days=150), date_before=now - timedelta(days=5))
    assert [d.id for d in store.list(between, 10)] == [d.id for d in decisions[4:10]]


def test_scan_without_filter_yields_every_record(store: DecisionStore) -> None:
    store.save(CORPUS)
    assert {d.id for d in store.scan()} == ALL
    assert {d.id for d in store.scan(None)} == ALL


def test_page_walks_every_record_once_in_a_stable_order(store: DecisionStore) -> None:
    store.save(CORPUS)
    first = [d.id for d in store.page(None, 0, len(CORPUS))]
    # Updating records (a review, a new rev) must not move them: an export paging meanwhile
    # sees each record once.
    store.save([(reviewed(d, "success"), v) for d, v in CORPUS[:2]])
    paged: list[str] = []
    offset = 0
    while chunk := store.page(None, offset, 3):
        paged += [d.id for d in chunk]
        offset += len(chunk)
    assert paged == first and sorted(paged) == sorted(ALL)
    flt = DecisionFilter(category="architecture")
    expected = {d.id for d, _ in CORPUS if flt.matches(d)}
    assert {d.id for d in store.page(flt, 0, 100)} == expected
    assert store.page(None, 0, 0) == []


def test_page_records_are_the_raw_records_of_page(store: DecisionStore) -> None:
    store.save(CORPUS)
    store.save([(reviewed(d, "success"), v) for d, v in CORPUS[:2]])
    for flt in (None, DecisionFilter(category="architecture"), DecisionFilter(statuses=("reviewed",))):
        for offset, limit in ((0, len(CORPUS)), (1, 3), (len(CORPUS) - 1, 5)):
            decisions = store.page(flt, offset, limit)
            records = store.page_records(flt, offset, limit)
            assert [i for i, _ in records] == [d.id for d in decisions]
            assert [json.loads(text) for _, text in records] == [codec.to_record(d) for d in decisions]
    assert len(store.page_records(None, 0, len(CORPUS))) == len(CORPUS)
    assert store.page_records(None, 0, 0) == []


def test_count_counts_records(store: DecisionStore) -> None:
    assert store.count() == 0
    store.save(CORPUS)
    assert store.count() == len(CORPUS)


# --- updates, versions, index maintenance --------------------------------------------------------


def test_saving_a_new_revision_replaces_the_old_one(store: DecisionStore) -> None:
    store.save(CORPUS)
    updated = dataclasses.replace(
        reviewed(D1, "success"), tags=("mysql",), project=None, pr=None, confidence=0.2
    )
    assert updated.rev == D1.rev + 1
    store.save([(updated, [1.0, 0.0, 0.0, 0.0])])

    assert store.get(D1.id) == updated
    assert store.count() == len(CORPUS)
    [hit] = store.search([1.0, 0.0, 0.0, 0.0], DecisionFilter(), 1)
    assert hit.decision == updated
    # Removed tags, project and pr must not match any more (Chroma merges metadata on upsert).
    assert D1.id not in {
        h.decision.id for h in store.search([1, 0, 0, 0], DecisionFilter(tags=("postgres",)), 10)
    }
    assert D1.id not in {d.id for d in store.list(DecisionFilter(project="billing"), 10)}
    assert D1.id not in {d.id for d in store.scan(DecisionFilter(pr=12))}
    assert D1.id in {d.id for d in store.list(DecisionFilter(tags=("mysql",), has_outcome=True), 10)}
    assert store.record_versions()[D1.id] == updated.rev
    assert store.index_versions()[D1.id] == updated.rev


def test_inserted_decisions_read_back_like_saved_ones(store: DecisionStore) -> None:
    d = full_decision()
    store.insert([(d, [1.0, 0.0, 0.0])])
    assert store.get(d.id) == d
    [hit] = store.search([1.0, 0.0, 0.0], DecisionFilter(), 5)
    assert hit.decision == d
    assert {x.id for x in store.list(DecisionFilter(tags=("billing",)), 10)} == {d.id}
    assert store.record_versions() == {d.id: d.rev}
    assert store.index_versions() == {d.id: d.rev}


def test_insert_without_a_vector_writes_the_record_only(store: DecisionStore) -> None:
    d = make("ins00001")
    store.insert([(d, None), (make("ins00002"), [0.0, 1.0])])
    assert store.get(d.id) == d
    assert store.count() == 2
    assert set(store.index_versions()) == {"ins00002"}


def test_an_inserted_decision_is_replaced_by_a_later_save(store: DecisionStore) -> None:
    # recordDecision inserts, reviewDecision and updateDecision save: keys the update drops
    # (tags, project, pr) must stop matching, as after any other save.
    store.insert([(D1, [1.0, 0.0, 0.0, 0.0])])
    updated = dataclasses.replace(reviewed(D1, "success"), tags=("mysql",), project=None, pr=None)
    store.save([(updated, [0.0, 1.0, 0.0, 0.0])])
    assert store.get(D1.id) == updated
    assert store.list(DecisionFilter(project="billing"), 10) == []
    assert [d.id for d in store.scan(DecisionFilter(pr=12))] == []
    assert store.search([1, 0, 0, 0], DecisionFilter(tags=("postgres",)), 10) == []
    assert store.index_versions()[D1.id] == updated.rev


def test_versions_report_rev_per_id(store: DecisionStore) -> None:
    store.save(CORPUS)
    expected = {d.id: d.rev for d, _ in CORPUS}
    assert store.record_versions() == expected
    assert store.index_versions() == expected


def test_save_without_vector_writes_the_record_only(store: DecisionStore) -> None:
    store.save(CORPUS)
    newer = dataclasses.replace(D4, confidence=0.1, rev=D4.rev + 1)
    fresh = make("e0000001")
    store.save([(newer, None), (fresh, None)])

    assert store.get(newer.id) == newer
    assert store.get(fresh.id) == fresh
    assert store.record_versions()[newer.id] == newer.rev
    assert store.index_versions()[newer.id] == D4.rev  # stale until reindexed
    assert fresh.id not in store.index_versions()


def test_reset_index_then_reindex_restores_search(store: DecisionStore) -> None:
    store.save(CORPUS)
    store.reset_index()

    assert store.index_versions() == {}
    assert store.search([1.0, 0.0, 0.0, 0.0], DecisionFilter(), 5) == []
    assert store.count() == len(CORPUS)
    assert store.get(D1.id) == D1

    store.reindex(CORPUS)
    assert store.index_versions() == {d.id: d.rev for d, _ in CORPUS}
    assert store.search([1.0, 0.0, 0.0, 0.0], DecisionFilter(), 1)[0].decision == D1


def test_reindex_does_not_touch_records(store: DecisionStore) -> None:
    store.save(CORPUS[:1])
    stray = make("f0000009")
    store.reindex([(stray, [0.0, 0.0, 0.0, 1.0])])
    assert store.get(stray.id) is None
    assert store.count() == 1


def test_another_space_shares_records_but_not_vectors(backend: Backend) -> None:
    a = backend.open(SPACE)
    a.save(CORPUS)
    b = backend.open(OTHER_SPACE)

    assert b.space == OTHER_SPACE
    assert b.count() == len(CORPUS)
    assert b.get(D1.id) == D1
    assert [d.id for d in b.list(DecisionFilter(), 1)] == [D5.id]
    assert b.index_versions() == {}
    assert b.search([1.0, 0.0, 0.0, 0.0], DecisionFilter(), 5) == []

    # A different dimension in space b does not disturb space a.
    b.reindex([(D1, [0.0, 1.0, 0.0]), (D3, [1.0, 0.0, 0.0])])
    assert [h.decision.id for h in b.search([1.0, 0.0, 0.0], DecisionFilter(), 1)] == [D3.id]
    assert [h.decision.id for h in a.search([1.0, 0.0, 0.0, 0.0], DecisionFilter(), 1)] == [D1.id]
    assert set(a.index_versions()) == ALL


def test_reset_index_leaves_other_spaces_alone(backend: Backend) -> None:
    a, b = backend.open(SPACE), backend.open(OTHER_SPACE)
    a.save(CORPUS)
    b.reindex([(D1, [1.0, 0.0])])
    a.reset_index()
    assert b.index_versions() == {D1.id: D1.rev}


def test_data_survives_reopening(backend: Backend) -> None:
    first = backend.open()
    first.save(CORPUS)
    first.close()
    again = backend.open()
    assert again.get(D2.id) == D2
    assert [h.decision.id for h in again.search([0.0, 1.0, 0.0, 0.0], DecisionFilter(), 1)] == [D3.id]


def test_one_space_holds_one_dimension(store: DecisionStore) -> None:
    store.save([(make("a0000001"), [1.0, 0.0])])
    with pytest.raises(StoreUnavailable, match="dimension"):
        store.search([1.0, 0.0, 0.0], DecisionFilter(), 1)
    with pytest.raises(StoreUnavailable, match="dimension"):
        store.reindex([(make("a0000002"), [1.0, 0.0, 0.0])])


def test_concurrent_writers_and_readers_do_not_lose_writes(store: DecisionStore) -> None:
    store.save(CORPUS)

    def write(worker: int) -> None:
        for i in range(10):
            store.save([(make(f"w{worker}{i:06d}"), [1.0, 0.0, float(worker), float(i)])])
            store.search([1.0, 0.0, 0.0, 0.0], DecisionFilter(category="architecture"), 3)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, range(4)))
    assert store.count() == len(CORPUS) + 40
    assert len(store.index_versions()) == len(CORPUS) + 40


# --- availability --------------------------------------------------------------------------------


def test_ping_answers_on_an_open_store(store: DecisionStore) -> None:
    store.ping()


def test_a_closed_store_is_unavailable(store: DecisionStore) -> None:
    store.save(CORPUS[:1])
    store.close()
    with pytest.raises(StoreUnavailable):
        store.ping()
    with pytest.raises(StoreUnavailable):
        store.get(D1.id)


@pytest.mark.chroma_server
@pytest.mark.slow
def test_ping_on_a_stopped_server_raises_store_unavailable(tmp_path: Path, chroma_server_url: str) -> None:
    url, process = start_chroma_server(tmp_path / "short-lived")
    try:
        store = ChromaStore.server(url, prefix="cstp", space=SPACE, timeout=5.0)
        store.save(CORPUS[:1])
        store.ping()
    finally:
        stop_chroma_server(process)
    with pytest.raises(StoreUnavailable, match="cannot reach Chroma"):
        store.ping()
    with pytest.raises(StoreUnavailable):
        store.search([1.0, 0.0, 0.0, 0.0], DecisionFilter(), 1)
    store.close()


def test_an_unreachable_server_is_unavailable_quickly() -> None:
    store = ChromaStore.server(f"http://127.0.0.1:{free_port()}", prefix="cstp", space=SPACE)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="cannot reach Chroma at http://127.0.0.1"):
        store.ping()
    assert time.monotonic() - started < 5


def test_filtered_search_beyond_the_overfetch_window(store: DecisionStore) -> None:
    # More decisions than a filtered search first fetches unfiltered (chroma_store.OVERFETCH):
    # a broad filter is answered from that window, a selective one must still find its matches
    # however far they are from the query vector.
    import math
    import random

    rng = random.Random(11)
    items = []
    for n in range(300):
        angle = rng.uniform(0, math.pi / 2)
        rare = n in (17, 251)
        d = make(
            f"f{n:07d}",
            category="security" if rare else ("process" if n % 2 else "tooling"),
            stakes="high" if n % 3 == 0 else "low",
        )
        items.append((d, [math.cos(angle), math.sin(angle)]))
    store.save(items)
    query = [1.0, 0.0]

    broad = store.search(query, DecisionFilter(stakes=("high",)), 10)
    assert len(broad) == 10
    assert all(h.decision.stakes == "high" for h in broad)
    assert [h.distance for h in broad] == sorted(h.distance for h in broad)

    selective = store.search(query, DecisionFilter(category="security"), 10)
    assert {h.decision.id for h in selective} == {"f0000017", "f0000251"}

    nothing = store.search(query, DecisionFilter(category="architecture"), 10)
    assert nothing == []

    # With candidate ids (what the catalogue gives: every match, maybe more), the same answers.
    def every(flt: DecisionFilter) -> list[str]:
        return [d.id for d, _ in items]

    def exact(flt: DecisionFilter) -> list[str]:
        return [d.id for d, _ in items if flt.matches(d)]

    for candidates in (every, exact):
        for flt, limit in (
            (DecisionFilter(category="security"), 10),
            (DecisionFilter(category="security"), 1),
            (DecisionFilter(stakes=("high",)), 10),
            (DecisionFilter(category="architecture"), 10),
        ):
            expected = [(h.decision.id, h.distance) for h in store.search(query, flt, limit)]
            got = [(h.decision.id, h.distance) for h in store.search(query, flt, limit, candidates)]
            assert [i for i, _ in got] == [i for i, _ in expected], (candidates.__name__, flt)
            assert [d for _, d in got] == pytest.approx([d for _, d in expected], abs=1e-5)
    unknown = store.search(query, DecisionFilter(category="security"), 10, lambda flt: None)
    assert {h.decision.id for h in unknown} == {"f0000017", "f0000251"}


def test_revision_grows_after_every_save_and_reindex(store: DecisionStore) -> None:
    d = make("e0000001")
    before = store.revision()
    store.save([(d, [1.0, 0.0])])
    after_save = store.revision()
    store.reindex([(d, [0.0, 1.0])])
    assert before < after_save < store.revision()
    assert store.revision() == store.revision()  # reading it is not a write


# --- the change feed and reads by id (what the browse catalogue follows) -------------------------


def test_changes_report_every_write_of_another_store_with_its_latest_facts(backend: Backend) -> None:
    from cstp.domain.facts import facts_of

    writer, reader = backend.open(), backend.open()  # two processes on one database
    first = [make(f"c{i:07d}", tags=("x",) * (i % 2), recorded_by=f"agent-{i % 2}") for i in range(5)]
    writer.save([(d, None) for d in first])
    everything = reader.changes(0)
    assert {f.id: f for f in everything.facts} == {d.id: facts_of(d) for d in first}

    changed = dataclasses.replace(
        reviewed(first[2], "failure"), category="process", tags=("y", "z"), project="acme/x"
    )
    added = make("d0000009", stakes="critical")
    writer.save([(changed, None), (added, None)])
    later = reader.changes(everything.cursor)
    latest: dict[str, object] = {}
    for f in later.facts:  # a change may come twice: the highest rev counts
        if f.id not in latest or f.rev > latest[f.id].rev:  # type: ignore[attr-defined]
            latest[f.id] = f
    assert latest[changed.id] == facts_of(changed) and latest[added.id] == facts_of(added)
    assert set(latest) <= {d.id for d in first} | {added.id}


def test_get_many_returns_the_existing_records_by_id(store: DecisionStore) -> None:
    a, b, c = make("aaaa0001"), make("bbbb0002", category="process"), make("cccc0003")
    store.save([(a, None), (b, None), (c, None)])
    assert store.get_many(["cccc0003", "nope", "aaaa0001", "aaaa0001"]) == {"cccc0003": c, "aaaa0001": a}
    assert store.get_many([]) == {}
    # Known revs change what may be read, never what is answered: the stored record, at its rev.
    newer = dataclasses.replace(b, decision="revised", rev=b.rev + 1)
    store.save([(newer, None)])
    known = {a.id: a.rev, b.id: newer.rev, "nope": 1}
    assert store.get_many([a.id, b.id, "nope"], known) == {a.id: a, b.id: newer}
