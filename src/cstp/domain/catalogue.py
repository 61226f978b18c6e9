"""The browse catalogue: `cstp.listDecisions` and `cstp.getStats` answered from columns in memory
(and the id-prefix lookups behind every method that takes a short id, `ids_with_prefix`).

Both methods select by a handful of fields, sort by one and count by others; reading and decoding
every matching record per call (what `domain.browse` does over a scan) costs seconds at 100k
decisions. The catalogue keeps those fields (`DecisionFacts`) for every stored decision as numpy
columns, strings as small integer codes, so a filter is a vector comparison, a sort one `lexsort`
and a breakdown one `bincount`; the text search is a substring test on each selected row's
casefolded text; a listing then reads only its page of records by id.

Keeping up. The store is shared by every server process. This process's own writes are applied
when the store has acknowledged them (`written`, called by the write path), so its next call sees
them without reading the store. Other processes' writes come from the store's change feed,
`DecisionStore.changes(cursor)` (what anyone wrote since the cursor), read as `domain.refresher`
decides: in the background once the last catch-up is half `max_lag_s` old, by the caller once it is
`max_lag_s` old, so another process's writes show within that bound; and by the caller when the
store's own revision moved by more writes than were reported (a write made around the write path,
such as a test's or a tool's, is visible to the next call too). The reads run outside `_lock`;
callers arriving during one answer at once from the columns as they are (with every write of this
process). Before, a call caught up after every write of this process, holding the lock over the
read: under 32 clients writing and querying, list mode and filtered searches queued behind one
`changes` read after another (list p99 8 × its median; docs/PERFORMANCE.md, "Mixed load"). A
change reported twice, or both written and reported, is applied once (highest rev).

The catalogue is the process's one reader of the change feed: `remote_changes` counts what the
feed brought that this process had not written (not applied by `writing` already, and not a write
of its own still inside `writing`), and `domain.shared_revision` adds that count to the store's
revision, for the caches that must follow other processes' writes.

The answers are `domain.browse`'s, whose functions stay the reference (tests compare the two on
random data and queries); `domain.browsing` picks the catalogue when it can answer a query.
Memory: about 60 bytes per decision plus its id, tag codes and search text (some 40 MB at 100k).

Thread safety: `_lock` guards every column and cache; applying changes and answering hold it, so
an answer never sees a half-applied change. The store reads (the first load, a catch-up) run
outside it; the refresher runs one catch-up at a time.
"""

from __future__ import annotations

import bisect
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from cstp.domain.browse import BY_DAY_MAX, STAKES_RANK, TOP_TAGS_MAX, ListQuery, Stats
from cstp.domain.calibration import Scores
from cstp.domain.errors import CstpError
from cstp.domain.facts import DecisionFacts, epoch_micros, facts_of
from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import DecisionStore
from cstp.domain.records import OUTCOME_SCORE, Decision
from cstp.domain.refresher import Refresher
from cstp.domain.reported_writes import ReportedWrites
from cstp.domain.search import tokenize

IntArray = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

_DAY_US = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NONE = -1  # the code of an absent value (recorded_by, project)
RETRY_S = 5.0  # after a failed load, the next one starts no sooner than this
# How late a search's candidates (`matching_ids`) may see another process's write.
SEARCH_MAX_LAG_S = 0.25
# New ids inserted one by one into the sorted ids (prefix lookups) up to this many, else all sorted.
_RESORT_AFTER = 256

logger = logging.getLogger("cstp.catalogue")


class _Codes:
    """Distinct strings of one field, numbered in order of first appearance."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, value: str | None) -> int:
        if value is None:
            return _NONE
        found = self._codes.get(value)
        if found is None:
            found = self._codes[value] = len(self.values)
            self.values.append(value)
        return found

    def find(self, value: str) -> int | None:
        return self._codes.get(value)

    def ranks(self, key: Callable[[str], Any] = lambda v: v) -> IntArray:
        """code → position of its value in the order `key` sorts the values."""
        order = sorted(range(len(self.values)), key=lambda c: key(self.values[c]))
        ranks = np.empty(len(self.values), dtype=np.int64)
        ranks[order] = np.arange(len(self.values))
        return ranks


class _Columns:
    """The facts of every decision, one row each; grown by doubling."""

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.row: dict[str, int] = {}
        self.ids: list[str] = []
        self.tags: list[tuple[int, ...]] = []
        self.texts: list[str] = []
        self.rev = np.zeros(capacity, dtype=np.int64)
        self.date = np.zeros(capacity, dtype=np.int64)
        self.confidence = np.zeros(capacity, dtype=np.float64)
        self.category = np.zeros(capacity, dtype=np.int64)
        self.stakes = np.zeros(capacity, dtype=np.int64)
        self.status = np.zeros(capacity, dtype=np.int64)
        self.agent = np.zeros(capacity, dtype=np.int64)
        self.project = np.zeros(capacity, dtype=np.int64)
        self.outcome = np.zeros(capacity, dtype=np.int64)
        self.codes = {
            name: _Codes() for name in ("category", "stakes", "status", "agent", "project", "tag", "outcome")
        }

    _ARRAYS = ("rev", "date", "confidence", "category", "stakes", "status", "agent", "project", "outcome")

    def apply(self, facts: Iterable[DecisionFacts]) -> tuple[bool, bool, bool, list[tuple[str, int]]]:
        """Write each fact unless the same or a newer rev is already here; which of (dates, tags,
        texts) changed, so the caches derived from them are rebuilt, and the (id, rev) written."""
        dates = tags = texts = False
        applied: list[tuple[str, int]] = []
        c = self.codes
        for f in facts:
            i = self.row.get(f.id)
            if i is not None and self.rev[i] >= f.rev:
                continue
            applied.append((f.id, f.rev))
            if i is None:
                i = self._append(f.id)
                dates = tags = texts = True
            tag_codes = tuple(c["tag"].code(t) for t in f.tags)
            if self.date[i] != f.date_us:
                dates = True
            if self.tags[i] != tag_codes:
                tags = True
            self.rev[i] = f.rev
            self.date[i] = f.date_us
            self.confidence[i] = f.confidence
            self.category[i] = c["category"].code(f.category)
            self.stakes[i] = c["stakes"].code(f.stakes)
            self.status[i] = c["status"].code(f.status)
            self.agent[i] = c["agent"].code(f.recorded_by)
            self.project[i] = c["project"].code(f.project)
            self.outcome[i] = c["outcome"].code(f.outcome)
            if self.texts[i] != f.text:
                texts = True
            self.tags[i] = tag_codes
            self.texts[i] = f.text
        return dates, tags, texts, applied

    def _append(self, decision_id: str) -> int:
        if self.n == len(self.rev):
            for name in self._ARRAYS:
                old = getattr(self, name)
                grown = np.zeros(2 * len(old), dtype=old.dtype)
                grown[: len(old)] = old
                setattr(self, name, grown)
        i = self.n
        self.n += 1
        self.row[decision_id] = i
        self.ids.append(decision_id)
        self.tags.append(())
        self.texts.append("")
        self.rev[i] = -1
        return i


class Catalogue:
    """Listing and statistics over every stored decision's facts (see the module docstring)."""

    def __init__(
        self,
        store: DecisionStore,
        *,
        max_lag_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._max_lag_s = max_lag_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cols: _Columns | None = None  # None until `load` finished
        self._loading = False
        self._pending: list[DecisionFacts] = []  # written while loading: applied after the swap
        self._failed_at = float("-inf")
        self._cursor = 0
        self._refresher = Refresher(self._catch_up, name="cstp-catalogue-feed", clock=clock)
        # This process's writes the write path reported, against the revision at the last read.
        self._reported = ReportedWrites()
        self._mark = self._reported.mark(-1)
        # Changes the feed brought that this process did not write (see `remote_changes`).
        self._remote = 0
        self._remote_listener: Callable[[list[tuple[str, int]]], None] | None = None
        self._own_in_flight: Counter[tuple[str, int]] = Counter()  # (id, rev) inside `writing`
        self._rank: IntArray | None = None  # row → position in (date desc, id asc); None = stale
        self._tag_pairs: tuple[IntArray, IntArray] | None = None  # (row, tag code) per tag use
        self._joined: tuple[str, IntArray] | None = None  # every text in one string, row starts
        # Every id in ascending order, for prefix lookups; kept for the columns it was sorted
        # from and the row count then (ids are only ever appended, so the new ones are the tail).
        self._sorted_ids: tuple[_Columns | None, int, list[str]] = (None, 0, [])

    @property
    def loaded(self) -> bool:
        return self._cols is not None

    @property
    def state(self) -> str:
        """For /ready: "loaded", "loading" (listings scan meanwhile) or "not loaded"."""
        return "loaded" if self._cols is not None else "loading" if self._loading else "not loaded"

    def load(self) -> None:
        """Read every decision's facts (seconds at 100k: run it off the request path)."""
        began, mark = self._clock(), self._reported.mark(self._store.revision())
        changes = self._store.changes(0)
        cols = _Columns(max(1024, len(changes.facts)))
        cols.apply(changes.facts)
        with self._lock:
            cols.apply(self._pending)  # written during the read, which may have missed them
            self._pending = []
            self._cols, self._cursor = cols, changes.cursor
            self._mark = mark
            self._rank = self._tag_pairs = self._joined = None
            # A model built from a scan before this load may miss another process's write that
            # the load holds: one move of `remote_changes` makes each rebuild once from here.
            self._remote += 1
        self._refresher.fresh_since(began)

    def written(self, decisions: Iterable[Decision]) -> None:
        """Apply this process's writes, which the store has acknowledged (see the module
        docstring): its next call sees them, with no store read."""
        self._reported.report()
        self._apply_own(decisions)

    def _apply_own(self, decisions: Iterable[Decision]) -> None:
        facts = [facts_of(d) for d in decisions]
        with self._lock:
            if self._cols is not None:
                self._applied(self._cols, facts)
            elif self._loading:
                self._pending.extend(facts)

    @contextmanager
    def writing(self, decisions: Sequence[Decision]) -> Iterator[None]:
        """Around this process's store write of `decisions` (the write path's): when the block
        returns, the store has acknowledged them and they are `written`. While it runs, the
        store's revision may already have moved for them: that is not taken for an unreported
        write (which would make the caller read the feed; under a write stream, one list-mode
        query in ten did, in the moment between the store's acknowledgement and the report).
        Nor does a catch-up that reads them meanwhile count them in `remote_changes`."""
        keys = [(d.id, d.rev) for d in decisions]
        with self._lock:
            self._own_in_flight.update(keys)
        try:
            with self._reported.writing():
                yield
            self._apply_own(decisions)
        finally:
            with self._lock:
                self._own_in_flight.subtract(keys)
                self._own_in_flight = +self._own_in_flight  # drop the keys at zero

    def start_loading(self) -> bool:
        """Start `load` on a daemon thread unless loaded, loading, or a load failed less than
        `RETRY_S` ago (the store is down: callers use the scan meanwhile). True if started."""
        with self._lock:
            now = self._clock()
            if self._cols is not None or self._loading or now - self._failed_at < RETRY_S:
                return False
            self._loading = True

        def run() -> None:
            try:
                self.load()
            except CstpError as e:
                logger.warning("catalogue not loaded; listings scan", extra={"error": str(e)})
            finally:
                if self._cols is None:
                    self._failed_at = self._clock()
                self._loading = False

        threading.Thread(target=run, name="cstp-catalogue", daemon=True).start()
        return True

    # --- answers ------------------------------------------------------------------------------

    @staticmethod
    def answers(flt: DecisionFilter) -> bool:
        """Whether `flt` uses only fields the catalogue keeps (the listing's and stats' filters)."""
        return (
            flt.min_confidence is None
            and flt.max_confidence is None
            and flt.feature is None
            and (flt.pr is None)
        )

    def page(self, query: ListQuery) -> tuple[list[str], int] | None:
        """The ids of the page `query` asks for and the total it selects; None when not loaded."""
        cols = self._caught_up()
        if cols is None:
            return None
        with self._lock:
            selected = np.flatnonzero(self._select(cols, query.filter))
            words = [w.casefold() for w in tokenize(query.search or "")]
            if words:
                selected = selected[self._containing(cols, words)[selected]]
            total = len(selected)
            rank = self._ranks(cols)[selected]
            if query.sort == "created_at":
                keys: list[npt.NDArray[Any]] = [rank] if query.descending else [rank, cols.date[selected]]
            else:
                primary = self._primary(cols, query.sort)[selected]
                keys = [rank, -primary if query.descending else primary]
            order = np.lexsort(keys) if len(keys) > 1 else np.argsort(rank, kind="stable")
            start = max(0, query.offset)
            chosen = selected[order[start : start + max(0, query.limit)]]
            return [cols.ids[i] for i in chosen], total

    def ids_with_prefix(self, prefix: str, limit: int) -> list[str] | None:
        """Up to `limit` ids starting with `prefix`, ascending (`DecisionStore.ids_with_prefix`),
        from memory: a short id's lookup, and every lookup of an id that does not exist, made the
        store page through every id (Chroma cannot filter ids by prefix). When nothing matches,
        the change feed is read first (one read of its look-back window, not of every id), so a
        short id another process wrote just before resolves, as it did from the store. None
        before the first load (which this starts: the caller asks the store)."""
        if not prefix or limit <= 0:
            return []
        cols = self._caught_up()
        if cols is None:
            self.start_loading()
            return None
        found = self._with_prefix(cols, prefix, limit)
        if not found:  # maybe written by another process since the last read: read the feed now
            self._refresher.read_now()
            found = self._with_prefix(cols, prefix, limit)
        return found

    def _with_prefix(self, cols: _Columns, prefix: str, limit: int) -> list[str]:
        with self._lock:
            ordered = self._ascending_ids(cols)
            start = bisect.bisect_left(ordered, prefix)
            out: list[str] = []
            for decision_id in ordered[start : start + limit]:
                if not decision_id.startswith(prefix):
                    break
                out.append(decision_id)
            return out

    def _ascending_ids(self, cols: _Columns) -> list[str]:
        """Every id of `cols` in ascending order (under `_lock`): the ids appended since the last
        call are inserted in place, or all sorted again when there are many."""
        sorted_for, count, ordered = self._sorted_ids
        if sorted_for is not cols or cols.n - count > _RESORT_AFTER:
            ordered = sorted(cols.ids)
        else:
            for decision_id in cols.ids[count:]:
                bisect.insort(ordered, decision_id)
        self._sorted_ids = (cols, cols.n, ordered)
        return ordered

    def revs(self, ids: Iterable[str]) -> dict[str, int]:
        """id → the rev the columns hold it at, for the ids they hold."""
        with self._lock:
            cols = self._cols
            if cols is None:
                return {}
            return {i: int(cols.rev[cols.row[i]]) for i in ids if i in cols.row}

    def follow_remote(self, listener: Callable[[list[tuple[str, int]]], None]) -> None:
        """`listener(keys)` is told the (id, rev) of each change the feed brought which this
        process had not written, before `remote_changes` counts them: a read model that applies
        them then (the keyword index) can count them as reported and need not read the store."""
        self._remote_listener = listener

    def remote_changes(self, max_lag_s: float) -> int:
        """A count that grows with every change the change feed brought which this process had not
        written itself (another process's write, or one made around the write path), caught up
        within `max_lag_s`; it also moves once when the first load finishes. What
        `domain.shared_revision` adds to the store's own revision, so that the caches built from
        the store follow other processes' writes; before the first load (which this starts), 0."""
        if self._caught_up(max_lag_s=max_lag_s) is None:
            self.start_loading()
        return self._remote

    def matching_ids(self, flt: DecisionFilter) -> list[str] | None:
        """Ids of every decision matching `flt`, for a search restricted to them (a superset when
        a decision changed since: the search checks each result against the filter itself).

        Searches lag less than listings: the lag bound here is `SEARCH_MAX_LAG_S` (not
        `max_lag_s`), so a filtered search finds what another process wrote within that bound.
        Catching up on every call cost one `changes` read (2-4 ms at 10k decisions, when nothing
        changed) on each search, a third of what a restricted search adds to an unfiltered one.
        None when the filter uses a field the columns do not keep, or before the first load (which
        this starts; the caller searches without candidates).
        """
        if not self.answers(flt):
            return None
        cols = self._caught_up(max_lag_s=SEARCH_MAX_LAG_S)
        with self._lock:
            ids = None if cols is None else [cols.ids[i] for i in np.flatnonzero(self._select(cols, flt))]
        if ids is None:
            self.start_loading()
        return ids

    def stats(self, flt: DecisionFilter, now: datetime) -> Stats | None:
        """`domain.browse.stats` from the columns; None when not loaded yet."""
        cols = self._caught_up()
        if cols is None:
            return None
        with self._lock:
            mask = self._select(cols, flt)
            c = cols.codes
            category = _counts(cols.category[: cols.n][mask], c["category"])
            stakes = _counts(cols.stakes[: cols.n][mask], c["stakes"])
            status = _counts(cols.status[: cols.n][mask], c["status"])
            agents = _counts(cols.agent[: cols.n][mask], c["agent"])
            dates = cols.date[: cols.n][mask]
            days, per_day = np.unique(dates // _DAY_US, return_counts=True)
            rows, tag_codes = self._tag_uses(cols)
            tags = _counts(tag_codes[mask[rows]], c["tag"])
            now_us = epoch_micros(now)
            recent = {d: int(np.count_nonzero(dates >= now_us - d * _DAY_US)) for d in (1, 7, 30)}
        return Stats(
            total=int(np.count_nonzero(mask)),
            by_category=dict(sorted(category.items())),
            by_stakes=dict(sorted(stakes.items(), key=lambda kv: (STAKES_RANK.get(kv[0], 9), kv[0]))),
            by_status=dict(sorted(status.items())),
            by_agent=dict(_by_count(agents)),
            by_day=[
                ((_EPOCH + timedelta(days=int(d))).date().isoformat(), int(k))
                for d, k in zip(days[::-1][:BY_DAY_MAX], per_day[::-1][:BY_DAY_MAX], strict=True)
            ],
            top_tags=_by_count(tags)[:TOP_TAGS_MAX],
            last_24h=recent[1],
            last_7d=recent[7],
            last_30d=recent[30],
        )

    def scores(self, flt: DecisionFilter) -> Scores | None:
        """Calibration's inputs for the decisions `flt` selects (its `has_outcome` is ignored: the
        scores say which are reviewed); None when not loaded yet."""
        cols = self._caught_up()
        if cols is None:
            return None
        with self._lock:
            mask = self._select(cols, flt)
            codes = cols.codes["outcome"].values
            by_code = np.array([OUTCOME_SCORE.get(v, np.nan) for v in codes] + [np.nan], dtype=np.float64)
            outcome = cols.outcome[: cols.n][mask]
            return Scores(
                confidence=cols.confidence[: cols.n][mask].copy(),
                score=by_code[outcome],  # an absent outcome (code -1) picks the trailing NaN
                date_us=cols.date[: cols.n][mask].copy(),
            )

    # --- keeping up ----------------------------------------------------------------------------

    def _caught_up(self, *, max_lag_s: float | None = None) -> _Columns | None:
        """The columns, caught up with the change feed as the refresher decides for the lag bound
        (`max_lag_s` overrides the catalogue's own: searches use a shorter one), and at once when
        the store moved by writes nobody reported; None before the first load. Called without
        `_lock` (see the module docstring)."""
        if self._cols is None:
            return None
        self._refresher.ensure(self._max_lag_s if max_lag_s is None else max_lag_s, now=self._unreported())
        return self._cols

    def _catch_up(self) -> None:
        mark = self._reported.mark(self._store.revision())
        changes = self._store.changes(self._cursor)
        with self._lock:
            assert self._cols is not None
            applied = self._applied(self._cols, changes.facts)
            self._cursor, self._mark = changes.cursor, mark
            # Not this process's: applied only now, and not a write of ours still in flight.
            remote = [key for key in applied if key not in self._own_in_flight]
        try:
            if remote and self._remote_listener is not None:
                self._remote_listener(remote)
        finally:  # counted whatever the listener did: a model it did not update must rebuild
            with self._lock:
                self._remote += len(remote)

    def _unreported(self) -> bool:
        """Whether the store moved by a write nobody reported (see `domain.reported_writes`)."""
        return self._reported.unreported(self._mark, self._store.revision())

    def _applied(self, cols: _Columns, facts: Iterable[DecisionFacts]) -> list[tuple[str, int]]:
        """Apply `facts` and drop the caches they invalidate (under `_lock`); the (id, rev) applied."""
        dates, tags, texts, applied = cols.apply(facts)
        if dates:
            self._rank = None
        if tags:
            self._tag_pairs = None
        if texts:
            self._joined = None
        return applied

    # --- internals (called under `_lock`) ----------------------------------------------------------

    def _select(self, cols: _Columns, flt: DecisionFilter) -> Mask:
        n, c = cols.n, cols.codes
        mask = np.ones(n, dtype=np.bool_)
        if flt.category is not None:
            mask &= _equal(cols.category[:n], c["category"].find(flt.category))
        if flt.date_after is not None:
            mask &= cols.date[:n] >= epoch_micros(flt.date_after)
        if flt.date_before is not None:
            mask &= cols.date[:n] <= epoch_micros(flt.date_before)
        if flt.stakes:
            mask &= _member(cols.stakes[:n], c["stakes"], flt.stakes)
        statuses = flt.effective_statuses()
        if statuses is not None:
            mask &= _member(cols.status[:n], c["status"], statuses)
        if flt.project is not None:
            mask &= _equal(cols.project[:n], c["project"].find(flt.project))
        if flt.recorded_by is not None:
            mask &= _equal(cols.agent[:n], c["agent"].find(flt.recorded_by))
        if flt.tags:
            rows, tag_codes = self._tag_uses(cols)
            wanted = [k for t in flt.tags if (k := c["tag"].find(t)) is not None]
            tagged = np.zeros(n, dtype=np.bool_)
            tagged[rows[np.isin(tag_codes, wanted)]] = True
            mask &= tagged
        return mask

    def _containing(self, cols: _Columns, words: list[str]) -> Mask:
        """Rows whose text contains every word as a substring.

        One regex scan per word over all texts joined by NUL (words never contain one, so no match
        spans two rows), mapping match offsets to rows: C speed, where a Python test per row costs
        a quarter of a second at 100k decisions.
        """
        if self._joined is None:
            lengths = np.fromiter((len(t) + 1 for t in cols.texts), dtype=np.int64, count=cols.n)
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
            self._joined = ("\0".join(cols.texts), starts)
        joined, starts = self._joined
        mask = np.ones(cols.n, dtype=np.bool_)
        for word in words:
            offsets = np.fromiter((m.start() for m in re.finditer(re.escape(word), joined)), dtype=np.int64)
            found = np.zeros(cols.n, dtype=np.bool_)
            found[np.searchsorted(starts, offsets, side="right") - 1] = True
            mask &= found
        return mask

    def _ranks(self, cols: _Columns) -> IntArray:
        """row → position in the listing's default order: newest first, equal dates by id."""
        if self._rank is None:
            dates = cols.date[: cols.n]
            order = np.argsort(-dates, kind="stable")
            ties = np.flatnonzero(dates[order][1:] == dates[order][:-1])
            if len(ties):  # runs of equal dates (rare): order each run by id
                for run in np.split(ties, np.flatnonzero(np.diff(ties) != 1) + 1):
                    span = slice(int(run[0]), int(run[-1]) + 2)
                    order[span] = sorted(order[span], key=lambda i: cols.ids[i])
            rank = np.empty(cols.n, dtype=np.int64)
            rank[order] = np.arange(cols.n)
            self._rank = rank
        return self._rank

    def _primary(self, cols: _Columns, sort: str) -> npt.NDArray[Any]:
        """The sort key of every row, as numbers ordered like `domain.browse`'s keys."""
        n, c = cols.n, cols.codes
        if sort == "confidence":
            return cols.confidence[:n]
        if sort == "stakes":
            return c["stakes"].ranks(lambda v: (STAKES_RANK.get(v, len(STAKES_RANK)), v))[cols.stakes[:n]]
        column = cols.category if sort == "category" else cols.status
        return c[sort].ranks()[column[:n]]

    def _tag_uses(self, cols: _Columns) -> tuple[IntArray, IntArray]:
        """(row, tag code) for every tag of every decision, rebuilt after tags changed."""
        if self._tag_pairs is None:
            lengths = np.fromiter((len(t) for t in cols.tags), dtype=np.int64, count=cols.n)
            rows = np.repeat(np.arange(cols.n, dtype=np.int64), lengths)
            codes = np.fromiter((k for t in cols.tags for k in t), dtype=np.int64, count=int(lengths.sum()))
            self._tag_pairs = (rows, codes)
        return self._tag_pairs


def _equal(column: IntArray, code: int | None) -> Mask:
    return column == code if code is not None else np.zeros(len(column), dtype=np.bool_)


def _member(column: IntArray, codes: _Codes, values: Sequence[str]) -> Mask:
    return np.isin(column, [k for v in values if (k := codes.find(v)) is not None])


def _counts(column: IntArray, codes: _Codes) -> dict[str, int]:
    present = column[column != _NONE]
    counts = np.bincount(present, minlength=len(codes.values))
    return {codes.values[k]: int(counts[k]) for k in np.flatnonzero(counts)}


def _by_count(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
