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
"""

from __future__ import annotations

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
        # A decision without words is one empty word, so it still counts in N and the average length.
        corpus = [tokenize(keyword_text(d)) or [""] for d in frozen]
        bm25: bm25s.BM25 | None = None
        if corpus:
            bm25 = bm25s.BM25(method="lucene", k1=K1, b=B, dtype="float64")
            bm25.index(corpus, show_progress=False)
        self._snapshot = _Snapshot(frozen, bm25)

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
