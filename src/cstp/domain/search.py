"""Finding decisions: semantic (vectors), keyword (BM25), hybrid, and list mode.

Semantic search is one filtered nearest-neighbour query against the store. List mode asks the
browse catalogue for the newest ids (then reads those records) and the store only when the
catalogue cannot answer: the store's newest-first listing reads every record of its newest date
slice, which under a write stream is every record written today. Keyword search ranks
with a `KeywordIndex` (BM25, `cstp.adapters.bm25s_index`) over every record's `keyword_text`;
`KeywordSearch` builds it lazily and rebuilds it on a background thread when the store's revision
moved (past `KEYWORD_EAGER_MAX` decisions at most once per `KEYWORD_REFRESH_S`); this process's
writes since the last rebuild are ranked beside the index (`KeywordIndex.score`), so a query does
not wait for a rebuild to see them. Hybrid min–max normalises both result sets and mixes them with
`hybrid_weight` on the semantic side (notes 5).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import Candidates, DecisionStore, KeywordIndex
from cstp.domain.records import Decision, ScoredDecision
from cstp.domain.reported_writes import ReportedWrites

Mode = Literal["semantic", "keyword", "hybrid", "list"]
KEYWORD_REFRESH_S = 2.0
KEYWORD_EAGER_MAX = 5000
KEYWORD_FRESH_WAIT_S = 0.25
# At most this share of wall time goes to rebuilding: after a rebuild that took t seconds the next
# one starts no sooner than t · (1 − duty) / duty later. Under a write stream an index below
# KEYWORD_EAGER_MAX was otherwise rebuilt back to back: a whole scan, decode and BM25 build per
# write batch, the largest single user of the server's CPU (and of Chroma's) under mixed load.
KEYWORD_DUTY = 0.25
# More changes from other processes than this in one read of the feed (a bulk import elsewhere)
# are left to a rebuild's scan: read by id and ranked beside the index, each would cost every
# query until then.
REMOTE_TAKE_MAX = 1000
# Decisions ranked beside the index (written since its build) past which a write asks for a
# rebuild itself: rebuilds otherwise follow queries, and without keyword queries every write of the
# day would wait beside the index for the first one to score.
PENDING_REBUILD_AT = 1000
_TOKEN = re.compile(r"\w+")
logger = logging.getLogger("cstp.search")


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


@dataclass(frozen=True, slots=True)
class _Built:
    """What the keyword index in use was built from."""

    revision: int  # store.revision() read before its scan: it holds every write counted there
    started: float  # clock() when its scan began
    size: int  # decisions indexed


class KeywordSearch:
    """Keyword search over a store's records, through a `KeywordIndex` kept in step with
    a revision of the store (`revision`, see below).

    A query does not wait behind a rebuild: rebuilds run on one background thread (single
    flight), and a query that finds the index stale asks for one and answers from the index in use
    (old or new, never half-built). Only the very first query waits, as there is nothing to answer
    from yet. Freshness:

    - this process's writes (reported through `writing`) are found at once: the decisions written
      since the index in use was built (`_pending`) are ranked beside it by `KeywordIndex.score`,
      with the scores a rebuild over both would give them (a revision of an indexed decision
      counts as one more document until then), and replace their older revisions' entries.
      Under 32 writing and querying clients every keyword query used to wait the whole
      `fresh_wait_s` for a rebuild (keyword p50 258 ms, against 8 ms without the wait,
      docs/PERFORMANCE.md, "Mixed load"). The index's own hits keep the scores of the corpus it
      was built over until the next rebuild: a write shifts other decisions' scores by its share
      of N and the average length, a fraction of a second late;
    - another process's writes, once the change feed brought them (`written_elsewhere`): the
      same, from then on;
    - a move of the revision nobody reported (a write made around the write path, or one the
      feed brought that could not be read back): below `eager_max` decisions, a stale index is
      rebuilt at once, and the query waits up to `fresh_wait_s` for a rebuild started after it
      asked: in a quiet moment it sees every write that returned before it started (a rebuild
      takes milliseconds there); under a write stream it answers after at most `fresh_wait_s`,
      missing at most the writes of one rebuild;
    - from `eager_max` on, the index is rebuilt at most once per `refresh_s` (counted from the
      start of the previous rebuild's scan) and queries do not wait: a result may miss such
      unreported writes of the last `refresh_s` seconds plus one rebuild (about 0.3 s at 10k);
    - either way, background rebuilds take at most `duty` of the wall time: after one that took t s the
      next starts no sooner than t · (1 − duty) / duty later (a query asking meanwhile answers from
      the index in use after its wait). A quiet index rebuilds in milliseconds, so this rest is
      shorter than `fresh_wait_s` there; under a write stream it keeps the rebuild from taking
      the cores the requests need (docs/PERFORMANCE.md, "Mixed load").

    Before, a small index was rebuilt in the query's thread with every query waiting on it: under
    32 writing and querying clients, keyword and hybrid p99 reached 6.4 s (docs/PERFORMANCE.md).

    The index lives in process memory. It follows `revision`: with a `SharedRevision` (what the
    server wires) the writes of other processes sharing the store count too, seen within its
    `poll_s`; with the store's own `revision()` only this process's writes do.

    What a rebuild reads: the write path tells the index of this process's writes (`writing`), and
    it keeps the decisions it indexed by id (`_corpus`, the same objects the index holds). When
    every move of the revision since the last rebuild was such a reported write
    (`domain.reported_writes`), the rebuild indexes that corpus with them applied and reads
    nothing; otherwise (another process's write, one made around the write path, or no corpus yet)
    it scans the store. The scan decoded every record's JSON, in C calls that hold the interpreter
    lock for tens of milliseconds each, several times a second under a write stream; the requests
    waiting for the lock meanwhile were the tail of the mixed load (docs/PERFORMANCE.md).

    Thread safety: `_cond` guards the rebuild bookkeeping (wanted, started and finished rebuild
    counts, whether the worker runs, when it may start the next); the rebuild itself runs outside
    it. `_corpus_lock` guards the corpus, the scan's late writes and `_pending`. `_built` is one
    immutable value in one attribute, assigned after the index swapped, so it never claims more
    than the index holds. The index itself swaps whole (see `KeywordIndex.rebuild`).
    """

    def __init__(
        self,
        store: DecisionStore,
        index: KeywordIndex,
        *,
        eager_max: int = KEYWORD_EAGER_MAX,
        refresh_s: float = KEYWORD_REFRESH_S,
        fresh_wait_s: float = KEYWORD_FRESH_WAIT_S,
        duty: float = KEYWORD_DUTY,
        clock: Callable[[], float] = time.monotonic,
        revision: Callable[[], int] | None = None,
    ) -> None:
        if not 0 < duty <= 1:
            raise ValueError("duty must be in (0, 1]")
        self._store = store
        # What "the store moved" means: a `SharedRevision` when several processes share the
        # store; the store's own revision (this process's writes) by default.
        self._revision = revision or store.revision
        self._index = index
        self._eager_max = eager_max
        self._refresh_s = refresh_s
        self._fresh_wait_s = fresh_wait_s
        self._clock = clock
        self._rest_factor = (1 - duty) / duty
        self._rest_until = float("-inf")  # clock() before which the worker starts no rebuild
        self._first = threading.Lock()
        self._cond = threading.Condition()
        self._wanted = False
        self._started = 0  # rebuilds the worker began
        self._finished = 0  # rebuilds the worker ended (built or failed)
        self._working = False
        self._built: _Built | None = None
        self._reported = ReportedWrites()
        self._mark = self._reported.mark(-1)
        self._corpus_lock = threading.Lock()
        self._corpus: dict[str, Decision] | None = None  # what the index in use was built over
        self._scanning: list[Decision] | None = None  # reported while a scan runs (None: none runs)
        # Reported since the decisions of the index in use were taken (by id, newest rev), once a
        # build began: before that, the first build reads them from the store.
        self._pending: dict[str, Decision] = {}

    @contextmanager
    def writing(self, decisions: Sequence[Decision]) -> Iterator[None]:
        """Around this process's store write of `decisions` (see `domain.reported_writes`); once
        the store acknowledged them, queries find them and the next rebuild indexes them without
        reading the store."""
        # Taken in before the write stops counting as in flight: until then `decisions_as_of`
        # lowers the revision it vouches for by it, so a digest built meanwhile is built again.
        with self._reported.writing():
            yield
            with self._corpus_lock:
                self._learn(decisions)
        self._rebuild_if_long()

    def written_elsewhere(self, keys: Sequence[tuple[str, int]]) -> None:
        """Writes this process did not make, as the change feed brought them ((id, rev) each,
        `Catalogue.follow_remote`), before the shared revision counts them: read by id and taken
        like this process's own, so they count as reported and no rebuild scans the store for
        them. Where the read fails or misses one, or there are more than `REMOTE_TAKE_MAX`,
        nothing is taken: the next rebuild scans.

        With several processes on one store under a write stream, every keyword query waited
        `fresh_wait_s` for a rebuild that scanned every record (docs/PERFORMANCE.md)."""
        if len(keys) > REMOTE_TAKE_MAX:
            return
        with self._corpus_lock:
            if self._corpus is None and self._scanning is None:
                return  # no build began: the first one scans the store
        try:
            found = self._store.get_many([i for i, _ in keys])
        except Exception:  # the store failed: the move stays unreported, the next rebuild scans
            logger.debug("reading other processes' writes for the keyword index failed", exc_info=True)
            return
        if any(i not in found or found[i].rev < rev for i, rev in keys):
            return  # gone or older than the feed said: scan
        with self._corpus_lock:
            self._learn([found[i] for i in dict.fromkeys(i for i, _ in keys)])
        self._reported.report(len(keys))
        self._rebuild_if_long()

    def decisions_as_of(self, revision: int) -> tuple[list[Decision], int] | None:
        """Every stored decision, from the corpus the index is kept in step with (no store read),
        and the revision they are complete for: `revision` (the caller's read of this index's
        revision, just before) less the writes in flight, which the store may count before they
        are reported here, so a caller comparing revisions later finds it moved and asks again.
        None when the corpus cannot vouch for them: a move nobody reported, or a first build
        (which this makes, as a keyword query would) that failed.

        The workflow digest reads every decision this way: its scan of the store took 1-3 s at 10k
        decisions and ran again after every write (runtime/snapshot.py); from memory, 82 ms."""
        try:
            self._ensure_built()
        except Exception:  # the store failed: the caller scans (and reports that failure itself)
            return None
        with self._corpus_lock:
            corpus = self._corpus
            if corpus is None or self._reported.unreported(self._mark, revision):
                return None
            return list(corpus.values()), revision - self._reported.in_flight

    def _rebuild_if_long(self) -> None:
        if len(self._pending) > PENDING_REBUILD_AT:
            self._request(wait_s=0.0, if_idle=True)

    def _learn(self, decisions: Sequence[Decision]) -> None:
        """Take stored `decisions` in (under `_corpus_lock`): the scan running, the corpus and,
        once a build began, `_pending`."""
        if self._scanning is not None:
            self._scanning.extend(decisions)
        if self._corpus is not None:
            _apply(self._corpus, decisions)
        if self._corpus is not None or self._scanning is not None:
            _apply(self._pending, decisions)

    def search(self, query: str, flt: DecisionFilter, limit: int) -> list[tuple[Decision, float]]:
        """`KeywordIndex.search` on an index as fresh as the rules above allow, with this
        process's writes since its build ranked in (best score first; ties keep index order)."""
        if limit <= 0:
            return []
        self._refresh()
        with self._corpus_lock:
            pending = list(self._pending.values())
        if not pending:
            return self._index.search(query, flt, limit)
        # Asked for more, as a pending revision replaces its older entry among the index's hits
        # (whether or not the new revision matches the query).
        revs = {d.id: d.rev for d in pending}
        indexed = self._index.search(query, flt, limit + len(pending))
        hits = [(d, s) for d, s in indexed if revs.get(d.id, -1) < d.rev]
        newer = {d.id: d.rev for d, _ in hits}  # another process's later revision, rebuilt in
        matching = [d for d in pending if flt.matches(d) and newer.get(d.id, -1) < d.rev]
        hits += [(d, s) for d, s in zip(matching, self._index.score(query, matching), strict=True) if s > 0]
        hits.sort(key=lambda hit: -hit[1])
        return hits[:limit]

    def _refresh(self) -> None:
        revision = self._revision()
        built = self._built
        if built is not None and built.revision >= revision:
            return
        if built is None:
            self._ensure_built()
            return
        if built.size >= self._eager_max:
            if self._clock() - built.started >= self._refresh_s:
                self._request(wait_s=0.0, if_idle=True)
            return
        # Every move since the last build was this process's write: `_pending` holds it already.
        unreported = self._reported.unreported(self._mark, revision)
        self._request(wait_s=self._fresh_wait_s if unreported else 0.0, if_idle=False)

    def _ensure_built(self) -> None:
        if self._built is None:
            with self._first:  # nothing to answer from yet: the first build is waited for
                if self._built is None:
                    self._rebuild()

    def _request(self, *, wait_s: float, if_idle: bool) -> None:
        """Ask the worker for a rebuild that starts after now; wait for it up to `wait_s`."""
        with self._cond:
            if if_idle and self._started > self._finished:
                return  # a large rebuild is running: its result will do
            target = self._started + 1
            self._wanted = True
            self._cond.notify_all()  # a resting worker re-reads the clock
            if not self._working:
                self._working = True
                threading.Thread(target=self._work, name="cstp-keyword-index", daemon=True).start()
            if wait_s > 0:
                self._cond.wait_for(lambda: self._finished >= target, timeout=wait_s)

    def _work(self) -> None:
        while True:
            with self._cond:
                if not self._wanted:
                    self._working = False
                    return
                # Rest first (see `duty`); requests arriving meanwhile share the next rebuild.
                while (rest := self._rest_until - self._clock()) > 0:
                    self._cond.wait(rest)
                self._wanted = False
                self._started += 1
                generation = self._started
            began = self._clock()
            try:
                self._rebuild()
            except Exception:  # the store failed: queries keep the index in use, the next one retries
                logger.warning(
                    "keyword index rebuild failed; answering from the previous index", exc_info=True
                )
            finally:
                ended = self._clock()
                with self._cond:
                    self._rest_until = ended + (ended - began) * self._rest_factor
                    self._finished = generation
                    self._cond.notify_all()

    def _rebuild(self) -> None:
        revision = self._revision()  # before the scan, which then sees every write counted
        mark = self._reported.mark(revision)
        started = self._clock()
        with self._corpus_lock:
            corpus = self._corpus
            if corpus is not None and not self._reported.unreported(self._mark, revision):
                decisions = list(corpus.values())
                covered = dict(self._pending)  # each applied to the corpus when it was reported
            else:
                corpus, self._scanning = None, []
        if corpus is None:
            try:
                scanned = {d.id: d for d in self._store.scan()}
            finally:
                with self._corpus_lock:
                    late, self._scanning = self._scanning or [], None
                    covered = dict(self._pending)  # stored before the scan began, or in `late`
            _apply(scanned, late)  # reported while the scan ran: it may have missed them
            with self._corpus_lock:
                self._corpus = scanned
                decisions = list(scanned.values())
        self._index.rebuild(decisions)
        self._mark = mark
        self._built = _Built(revision, started, len(decisions))
        with self._corpus_lock:  # now in the index; a revision reported since stays pending
            for did, d in covered.items():
                if self._pending.get(did) is d:
                    del self._pending[did]


def _apply(corpus: dict[str, Decision], decisions: Iterable[Decision]) -> None:
    """Put each decision in `corpus` unless it holds a newer rev of it."""
    for d in decisions:
        held = corpus.get(d.id)
        if held is None or held.rev <= d.rev:
            corpus[d.id] = d


class SearchService:
    """Runs queryDecisions' four modes: semantic and list through the store, keyword through
    `KeywordSearch`, and the hybrid mix of the two rankings.

    Thread safety: no state of its own; the store, `embed_query` and `KeywordSearch` are thread-safe.
    """

    def __init__(
        self,
        store: DecisionStore,
        embed_query: Callable[[Sequence[str]], list[list[float]]],
        keyword: KeywordSearch,
        newest: Callable[[DecisionFilter, int], Sequence[Decision] | None] | None = None,
        candidates: Candidates | None = None,
    ) -> None:
        """`newest(flt, limit)` answers list mode when it can (the browse catalogue: None when it
        cannot, e.g. not loaded yet or a filter it does not keep); otherwise `store.list` does.
        `candidates` (the browse catalogue's `matching_ids`) lets the store restrict a selective
        filtered search to the ids that can match (see `DecisionStore.search`)."""
        self._store = store
        self._embed_query = embed_query
        self._keyword = keyword
        self._newest = newest
        self._candidates = candidates

    def semantic(self, query: str, flt: DecisionFilter, limit: int) -> list[ScoredDecision]:
        vector = self._embed_query([query])[0]
        return self._store.search(vector, flt, limit, self._candidates)

    def keyword(self, query: str, flt: DecisionFilter, limit: int) -> list[tuple[Decision, float]]:
        return self._keyword.search(query, flt, limit)

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
            listed = self._newest(flt, limit) if self._newest is not None else None
            if listed is None:
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
            hits = [Hit(d, keyword_distance(s), keyword=s, combined=s) for d, s in found]
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


def keyword_distance(score: float) -> float:
    """A keyword hit's `distance`: 1 - score / 10, clipped at 0 so it stays in [0, 1].

    Scores up to 10 keep the distances clients always got; a higher score (rare words, a long
    query) gave a negative distance before the clip, and now gives 0. Order is by score anyway.
    """
    return max(0.0, round(1 - score / 10, 4))


def _normalise(values: dict[str, float]) -> dict[str, float]:
    """Min–max to 0..1; when all values are equal every one becomes 1.0."""
    if not values:
        return {}
    lo, hi = min(values.values()), max(values.values())
    if hi == lo:
        return dict.fromkeys(values, 1.0)
    return {k: (v - lo) / (hi - lo) for k, v in values.items()}
