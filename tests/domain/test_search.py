"""SearchService ranking rules: keyword freshness, hybrid normalisation, list order."""

from __future__ import annotations

from datetime import timedelta

from cstp.adapters.memory_store import MemoryStore
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision, utcnow
from cstp.domain.search import SearchService, _normalise, tokenize


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


def searcher(store: MemoryStore, gen: list[int]) -> SearchService:
    return SearchService(store, lambda texts: [[1.0, 3.0, 0.0] for _ in texts], lambda: gen[0])


def test_keyword_sees_a_new_decision_immediately_in_a_small_corpus() -> None:
    store, gen = MemoryStore("s"), [0]
    svc = searcher(store, gen)
    make(store, "a1", "rotate credentials monthly")
    assert [d.id for d, _ in svc.keyword("credentials", DecisionFilter(), 5)] == ["a1"]
    make(store, "a2", "store credentials in a vault")
    gen[0] += 1
    assert {d.id for d, _ in svc.keyword("credentials", DecisionFilter(), 5)} == {"a1", "a2"}


def test_keyword_drops_non_matching_and_applies_filters() -> None:
    store, gen = MemoryStore("s"), [0]
    make(store, "a1", "rotate credentials monthly")
    make(store, "a2", "cache sessions")
    svc = searcher(store, gen)
    assert [d.id for d, _ in svc.keyword("credentials", DecisionFilter(), 5)] == ["a1"]
    assert svc.keyword("credentials", DecisionFilter(category="security"), 5) == []
    assert svc.keyword("", DecisionFilter(), 5) == []


def test_normalise_is_min_max_and_all_equal_become_one() -> None:
    assert _normalise({"a": 2.0, "b": 4.0, "c": 3.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert _normalise({"a": 0.3, "b": 0.3}) == {"a": 1.0, "b": 1.0}
    assert _normalise({}) == {}


def test_hybrid_weight_one_follows_semantic_order() -> None:
    store, gen = MemoryStore("s"), [0]
    make(store, "a1", "abc")
    make(store, "a2", "abc abc abc abc abc")
    svc = searcher(store, gen)
    result = svc.search("abc", "hybrid", DecisionFilter(), 2, hybrid_weight=1.0)
    assert result.mode == "hybrid"
    assert result.hits[0].decision.id == "a1"  # its vector [1, 3, 0] equals the query's
    assert result.scores["a1"]["semantic"] == 1.0


def test_list_mode_is_newest_first() -> None:
    store, gen = MemoryStore("s"), [0]
    make(store, "old", "x", age_days=9)
    make(store, "new", "y", age_days=1)
    result = searcher(store, gen).search("  ", "semantic", DecisionFilter(), 10)
    assert result.mode == "list" and [h.decision.id for h in result.hits] == ["new", "old"]


def test_tokenize_lowercases_words() -> None:
    assert tokenize("Use PostgreSQL, v15!") == ["use", "postgresql", "v15"]


def test_postings_scores_equal_rank_bm25s_own_scoring() -> None:
    import random

    from rank_bm25 import BM25Okapi

    from cstp.domain.search import _Bm25

    rng = random.Random(7)
    words = [f"w{i}" for i in range(40)]
    corpus = [[rng.choice(words) for _ in range(rng.randint(1, 30))] for _ in range(300)]

    class Reference(BM25Okapi):  # type: ignore[misc]
        _calc_idf = _Bm25._calc_idf  # the library's own scoring loop with the same idf

    bm25, reference = _Bm25(corpus), Reference(corpus)
    for query in (["w1"], ["w2", "w3", "w2"], ["nothing"], words[:10]):
        assert list(bm25.get_scores(query).round(9)) == list(reference.get_scores(query).round(9))
