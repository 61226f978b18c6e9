"""Finding decisions: semantic (vectors), keyword (BM25), hybrid, and list mode.

Semantic search is one filtered nearest-neighbour query against the store. Keyword search ranks
with BM25 (`rank_bm25`) over every record's document; the index is built lazily, kept in memory and
rebuilt when decisions changed (past `KEYWORD_EAGER_MAX` decisions at most once per
`KEYWORD_REFRESH_S`, so a write-heavy workload does not rebuild on every query). Hybrid min–max
normalises both result sets and mixes them with `hybrid_weight` on the semantic side (notes 5).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from rank_bm25 import BM25Okapi

from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import DecisionStore
from cstp.domain.records import Decision, ScoredDecision

Mode = Literal["semantic", "keyword", "hybrid", "list"]
KEYWORD_REFRESH_S = 2.0
KEYWORD_EAGER_MAX = 5000
_TOKEN = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def keyword_text(d: Decision) -> str:
    parts = [d.decision, d.context or "", d.category, " ".join(d.tags), d.pattern or ""]
    parts += [f"{r.type} {r.text}" for r in d.reasons]
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Hit:
    decision: Decision
    distance: float
    semantic: float = 0.0
    keyword: float = 0.0
    combined: float = 0.0


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    mode: Mode
    scores: dict[str, dict[str, float]] = field(default_factory=dict)


class _Bm25(BM25Okapi):  # type: ignore[misc]  # rank_bm25 has no type hints
    """BM25 (k1 1.5, b 0.75) with Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)), scored through
    postings lists.

    Okapi's idf is zero or negative for a term found in half the documents or more, so in a small
    corpus a plain keyword query can match nothing; Lucene's idf stays positive while documents
    without any query term still score exactly 0. rank_bm25 scores by walking every document for
    every query term in Python (20 ms per term at 10k decisions); the same formula over per-term
    postings touches only the documents that contain the term.
    """

    def __init__(self, corpus: list[list[str]]) -> None:
        super().__init__(corpus)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for doc, freqs in enumerate(self.doc_freqs):
            for word, tf in freqs.items():
                docs, tfs = postings.setdefault(word, ([], []))
                docs.append(doc)
                tfs.append(tf)
        doc_len = np.asarray(self.doc_len, dtype=np.float64)
        self._length_norm = self.k1 * (1 - self.b + self.b * doc_len / self.avgdl)
        self._postings = {
            word: (np.asarray(docs, dtype=np.int64), np.asarray(tfs, dtype=np.float64))
            for word, (docs, tfs) in postings.items()
        }
        self.doc_freqs: list[dict[str, int]] = []  # rank_bm25's per-document dicts: the postings replace them

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))

    def get_scores(self, query: list[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        scores = np.zeros(self.corpus_size)
        for word in query:
            posting = self._postings.get(word)
            if posting is None:
                continue
            docs, tf = posting
            scores[docs] += self.idf[word] * tf * (self.k1 + 1) / (tf + self._length_norm[docs])
        return scores


class _KeywordIndex:
    def __init__(self, decisions: list[Decision]) -> None:
        self.decisions = decisions
        corpus = [tokenize(keyword_text(d)) or [""] for d in decisions]
        self.bm25 = _Bm25(corpus) if corpus else None

    def search(self, query: str, flt: DecisionFilter, limit: int) -> list[tuple[Decision, float]]:
        tokens = tokenize(query)
        if self.bm25 is None or not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        hits = np.flatnonzero(scores > 0)
        order = hits[np.argsort(-scores[hits], kind="stable")]
        out: list[tuple[Decision, float]] = []
        for i in order:
            score = float(scores[i])
            d = self.decisions[i]
            if flt.matches(d):
                out.append((d, score))
                if len(out) >= limit:
                    break
        return out


class SearchService:
    """Runs queryDecisions' four modes against a store."""

    def __init__(
        self,
        store: DecisionStore,
        embed_query: Callable[[Sequence[str]], list[list[float]]],
        generation: Callable[[], int],
    ) -> None:
        self._store = store
        self._embed_query = embed_query
        self._generation = generation
        self._lock = threading.Lock()
        self._index: _KeywordIndex | None = None
        self._index_gen = -1
        self._index_built = 0.0

    def semantic(self, query: str, flt: DecisionFilter, limit: int) -> list[ScoredDecision]:
        vector = self._embed_query([query])[0]
        return self._store.search(vector, flt, limit)

    def _keyword_index(self) -> _KeywordIndex:
        with self._lock:
            gen = self._generation()
            # Small corpora rebuild on every change; large ones at most every KEYWORD_REFRESH_S,
            # so a stream of writes does not turn every keyword query into a full rebuild.
            large = self._index is not None and len(self._index.decisions) >= KEYWORD_EAGER_MAX
            recent = time.monotonic() - self._index_built < KEYWORD_REFRESH_S
            if self._index is None or (gen != self._index_gen and not (large and recent)):
                self._index = _KeywordIndex(list(self._store.scan()))
                self._index_gen = gen
                self._index_built = time.monotonic()
            return self._index

    def keyword(self, query: str, flt: DecisionFilter, limit: int) -> list[tuple[Decision, float]]:
        return self._keyword_index().search(query, flt, limit)

    def search(
        self,
        query: str,
        mode: Mode,
        flt: DecisionFilter,
        limit: int,
        hybrid_weight: float = 0.7,
        semantic_prefix: str = "",
    ) -> SearchResult:
        if mode == "list" or not query.strip():
            listed = self._store.list(flt, limit)
            return SearchResult([Hit(d, 0.0) for d in listed], "list")
        if mode == "semantic":
            hits = [
                Hit(s.decision, round(s.distance, 4), semantic=1 - s.distance)
                for s in self.semantic(semantic_prefix + query, flt, limit)
            ]
            return SearchResult(hits, "semantic")
        if mode == "keyword":
            found = self.keyword(query, flt, limit)
            hits = [Hit(d, round(1 - s / 10, 4), keyword=s, combined=s) for d, s in found]
            scores = {d.id: {"semantic": 0.0, "keyword": s, "combined": s} for d, s in found}
            return SearchResult(hits, "keyword", scores)
        return self._hybrid(query, flt, limit, hybrid_weight, semantic_prefix)

    def _hybrid(
        self, query: str, flt: DecisionFilter, limit: int, weight: float, prefix: str
    ) -> SearchResult:
        sem = {
            s.decision.id: (s.decision, 1 - s.distance) for s in self.semantic(prefix + query, flt, 2 * limit)
        }
        kw = {d.id: (d, score) for d, score in self.keyword(query, flt, 2 * limit)}
        sem_n = _normalise({k: v[1] for k, v in sem.items()})
        kw_n = _normalise({k: v[1] for k, v in kw.items()})
        combined: list[Hit] = []
        scores: dict[str, dict[str, float]] = {}
        for did in sem.keys() | kw.keys():
            decision = (sem.get(did) or kw[did])[0]
            s, k = sem_n.get(did, 0.0), kw_n.get(did, 0.0)
            c = weight * s + (1 - weight) * k
            combined.append(Hit(decision, round(1 - c, 4), s, k, c))
            scores[did] = {"semantic": round(s, 4), "keyword": round(k, 4), "combined": round(c, 4)}
        combined.sort(key=lambda h: (-h.combined, h.decision.id))
        top = combined[:limit]
        return SearchResult(top, "hybrid", {h.decision.id: scores[h.decision.id] for h in top})


def _normalise(values: dict[str, float]) -> dict[str, float]:
    """Min–max to 0..1; when all values are equal every one becomes 1.0."""
    if not values:
        return {}
    lo, hi = min(values.values()), max(values.values())
    if hi == lo:
        return dict.fromkeys(values, 1.0)
    return {k: (v - lo) / (hi - lo) for k, v in values.items()}
