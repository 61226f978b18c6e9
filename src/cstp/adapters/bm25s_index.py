"""`KeywordIndex` on bm25s: BM25 (k1 1.5, b 0.75) with Lucene's idf over each decision's keyword text.

A document's score for a query is the sum over query words (a repeated word counts again) of

    idf(w) · tf · (k1 + 1) / (tf + k1 · (1 − b + b · len / avglen))
    idf(w) = ln(1 + (N − df + 0.5) / (df + 0.5))

Lucene's idf stays positive for a word found in half the documents or more (Okapi's goes to zero
or below, so in a small corpus a plain keyword query could match nothing), while a document
without any query word still scores exactly 0 and is never returned.

bm25s (`method="lucene"`) computes every (document, word) term at build time into a sparse
matrix, so a query only sums the rows of its words. Its Lucene variant leaves the constant
`k1 + 1` out of the numerator, which changes no order; `search` multiplies it back so that
`scores.keyword` keeps the values the server reported before bm25s (rank_bm25 with the same idf).

`score` ranks decisions that are not in the index yet (written since its build) by the same
formula, with N, df and the average length of the index in use counting them in: exactly what a
rebuild over the index's decisions plus those would give them (`KeywordSearch` uses it so a query
sees this process's writes without waiting for that rebuild).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np

from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision
from cstp.domain.search import keyword_text, tokenize

K1 = 1.5
B = 0.75


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """One built index: never mutated after construction (bm25s only reads its arrays to score)."""

    decisions: tuple[Decision, ...]
    bm25: bm25s.BM25 | None  # None for an empty corpus
    total_len: int = 0  # words in all documents (an empty one counts one): N × the average length


def _words(d: Decision) -> list[str]:
    """A decision's indexed words; one without words is one empty word, so it still counts in N
    and the average length."""
    return tokenize(keyword_text(d)) or [""]


class Bm25sIndex:
    """A `KeywordIndex` held in process memory; `rebuild` replaces it whole.

    Thread safety: the index is one immutable `_Snapshot` held in one attribute. `rebuild` builds a
    new snapshot without any lock and then assigns the attribute; `search` reads the attribute once,
    so it answers from either the old or the new snapshot, never a mix. Concurrent `rebuild` calls
    are not ordered (the last to finish wins), so callers rebuild single-flight (`KeywordSearch` does).
    """

    def __init__(self) -> None:
        self._snapshot = _Snapshot((), None)

    def rebuild(self, decisions: Sequence[Decision]) -> None:
        """Replace the index by one over exactly `decisions` (about 0.3 s for 10k)."""
        frozen = tuple(decisions)
        corpus = [_words(d) for d in frozen]
        bm25: bm25s.BM25 | None = None
        if corpus:
            bm25 = bm25s.BM25(method="lucene", k1=K1, b=B, dtype="float64")
            bm25.index(corpus, show_progress=False)
        self._snapshot = _Snapshot(frozen, bm25, sum(len(words) for words in corpus))

    def search(self, query: str, flt: DecisionFilter, limit: int) -> list[tuple[Decision, float]]:
        """Up to `limit` matching decisions containing a query word, best first; ties keep corpus order."""
        snapshot = self._snapshot
        tokens = tokenize(query)
        if snapshot.bm25 is None or not tokens or limit <= 0:
            return []
        scores = snapshot.bm25.get_scores(tokens)
        hits = np.flatnonzero(scores > 0)
        order = hits[np.argsort(-scores[hits], kind="stable")]
        out: list[tuple[Decision, float]] = []
        for i in order:
            decision = snapshot.decisions[i]
            if flt.matches(decision):
                out.append((decision, float(scores[i]) * (K1 + 1)))
                if len(out) == limit:
                    break
        return out

    def score(self, query: str, decisions: Sequence[Decision]) -> list[float]:
        """Each of `decisions`' score for `query`, as if the index in use held them too: N, each
        query word's document frequency and the average length count them (see the module
        docstring). A decision without a query word scores 0."""
        snapshot = self._snapshot
        tokens = tokenize(query)
        if not tokens or not decisions:
            return [0.0] * len(decisions)
        docs = [Counter(_words(d)) for d in decisions]
        lengths = [c.total() for c in docs]
        n = len(snapshot.decisions) + len(docs)
        avg_len = (snapshot.total_len + sum(lengths)) / n
        idf: dict[str, float] = {}
        for word in set(tokens):
            df = sum(1 for c in docs if word in c) + _indexed_df(snapshot.bm25, word)
            idf[word] = math.log(1 + (n - df + 0.5) / (df + 0.5))
        scores = []
        for counts, length in zip(docs, lengths, strict=True):
            norm = K1 * (1 - B + B * length / avg_len)
            total = 0.0
            for word in tokens:  # a repeated query word counts again, as in `search`
                tf = counts.get(word, 0)
                if tf:
                    total += idf[word] * tf / (tf + norm)
            scores.append(total * (K1 + 1))
        return scores


def _indexed_df(bm25: bm25s.BM25 | None, word: str) -> int:
    """How many indexed documents hold `word`: its column's entries in bm25s's CSC score matrix
    (one per document where the word occurs)."""
    if bm25 is None:
        return 0
    column = bm25.vocab_dict.get(word)
    if column is None:
        return 0
    indptr = bm25.scores["indptr"]
    return int(indptr[column + 1] - indptr[column])
