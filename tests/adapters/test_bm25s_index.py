"""Bm25sIndex: the scores and order of the BM25 formula the server has always reported, and whole swaps."""

from __future__ import annotations

import dataclasses
import math
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from cstp.adapters.bm25s_index import Bm25sIndex
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision
from cstp.domain.search import keyword_text, tokenize

CATEGORIES = ("architecture", "process", "security")


def corpus(seed: int, n: int) -> list[Decision]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(40)]
    return [
        Decision(
            id=f"{i:08x}",
            decision=" ".join(rng.choice(words) for _ in range(rng.randint(1, 30))),
            category=rng.choice(CATEGORIES),
            confidence=0.5,
            stakes="low",
            date=datetime(2024, 1, 1, tzinfo=UTC),
            tags=tuple(rng.sample(words, rng.randint(0, 2))),
        )
        for i in range(n)
    ]


def reference_scores(decisions: list[Decision], query: list[str]) -> list[float]:
    """BM25 as cstp scored it before bm25s: k1 1.5, b 0.75, Lucene's idf, (k1 + 1) in the numerator."""
    k1, b = 1.5, 0.75
    docs = [Counter(tokenize(keyword_text(d)) or [""]) for d in decisions]
    lengths = [sum(doc.values()) for doc in docs]
    n, avgdl = len(docs), sum(lengths) / len(docs)
    scores = []
    for doc, length in zip(docs, lengths, strict=True):
        score = 0.0
        for word in query:  # a repeated query word counts again
            tf = doc[word]
            if tf:
                df = sum(1 for other in docs if word in other)
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgdl))
        scores.append(score)
    return scores


def tie_groups(ranked: list[tuple[str, float]]) -> list[set[str]]:
    """Consecutive ids with equal scores (to float tolerance) as sets: the order that is defined."""
    groups: list[set[str]] = []
    last: float | None = None
    for did, score in ranked:
        if last is None or not math.isclose(score, last, rel_tol=1e-9):
            groups.append(set())
        groups[-1].add(did)
        last = score
    return groups


QUERIES = ["w1", "w2 w3 w2", "nothing", " ".join(f"w{i}" for i in range(10)), "W7, w8!", "architecture w5"]


def test_scores_and_order_equal_the_reference_formula() -> None:
    decisions = corpus(7, 300)
    index = Bm25sIndex()
    index.rebuild(decisions)
    for query in QUERIES:
        expected = [
            (d.id, s)
            for d, s in zip(decisions, reference_scores(decisions, tokenize(query)), strict=True)
            if s > 0
        ]
        expected.sort(key=lambda pair: -pair[1])
        got = [(d.id, s) for d, s in index.search(query, DecisionFilter(), len(decisions))]
        assert tie_groups(got) == tie_groups(expected), query
        reference = dict(expected)
        assert all(math.isclose(s, reference[did], rel_tol=1e-12) for did, s in got), query


def test_score_gives_decisions_not_indexed_yet_what_a_rebuild_with_them_would() -> None:
    """A query sees decisions written since the build through `score`: each gets the score it
    would have in an index rebuilt over the indexed ones plus them (N, df and the average length
    count them), including words the index has never seen."""
    indexed, added = corpus(5, 250), corpus(6, 12)
    added = [dataclasses.replace(d, id=f"new{i}") for i, d in enumerate(added)]
    added[0] = dataclasses.replace(added[0], decision="zebra w1 zebra")  # a word new to the index
    index = Bm25sIndex()
    index.rebuild(indexed)
    for query in [*QUERIES, "zebra w1"]:
        expected = reference_scores(indexed + added, tokenize(query))[len(indexed) :]
        got = index.score(query, added)
        assert all(
            math.isclose(g, e, rel_tol=1e-12, abs_tol=1e-12) for g, e in zip(got, expected, strict=True)
        ), query
    assert index.score("zebra", added)[0] > 0 and index.score("", added) == [0.0] * len(added)
    empty = Bm25sIndex()
    assert empty.score("w1 zebra", added) == pytest.approx(reference_scores(added, ["w1", "zebra"]))


def test_results_match_the_filter_and_the_limit() -> None:
    decisions = corpus(11, 200)
    index = Bm25sIndex()
    index.rebuild(decisions)
    everything = index.search("w1 w2", DecisionFilter(), len(decisions))
    security = index.search("w1 w2", DecisionFilter(category="security"), len(decisions))
    assert security and all(d.category == "security" for d, _ in security)
    assert security == [(d, s) for d, s in everything if d.category == "security"]
    assert index.search("w1 w2", DecisionFilter(category="security"), 3) == security[:3]


def test_an_empty_index_or_a_wordless_query_finds_nothing() -> None:
    index = Bm25sIndex()
    assert index.search("w1", DecisionFilter(), 10) == []
    index.rebuild(corpus(3, 20))
    assert index.search("", DecisionFilter(), 10) == []
    assert index.search(" ,.! ", DecisionFilter(), 10) == []
    index.rebuild([])
    assert index.search("w1", DecisionFilter(), 10) == []


def test_searches_during_rebuilds_answer_from_one_whole_index() -> None:
    old, new = corpus(1, 400), corpus(2, 600)
    answers = {}
    for name, decisions in (("new", new), ("old", old)):
        reference = Bm25sIndex()
        reference.rebuild(decisions)
        answers[name] = [(d.id, s) for d, s in reference.search("w1 w3", DecisionFilter(), 20)]
    index = Bm25sIndex()
    index.rebuild(old)
    stop = threading.Event()

    def rebuild_back_and_forth() -> int:
        rebuilds = 0
        while not stop.is_set():
            index.rebuild(new if rebuilds % 2 == 0 else old)
            rebuilds += 1
        return rebuilds

    def search(_: int) -> list[tuple[str, float]]:
        return [(d.id, s) for d, s in index.search("w1 w3", DecisionFilter(), 20)]

    with ThreadPoolExecutor(5) as pool:
        rebuilder = pool.submit(rebuild_back_and_forth)
        seen = list(pool.map(search, range(2000)))
        stop.set()
        assert rebuilder.result(timeout=60) > 0
    assert all(answer in (answers["old"], answers["new"]) for answer in seen)
