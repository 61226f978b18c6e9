"""How the Chroma store answers the two queries Chroma has no direct operation for.

- `nearest_matching`: a filtered nearest-neighbour search that avoids Chroma's slow metadata
  pre-filter (overfetch unfiltered and filter in Python; for a selective filter, search only the
  candidate ids the caller knows can match).
- `newest_matching`: "the newest N matching decisions" without reading every record (Chroma
  cannot sort), by reading back in time in growing date slices.

Both take the Chroma calls they need as small functions, so the algorithms read without Chroma's
plumbing and the store keeps error translation around the calls themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from cstp.adapters.chroma.schema import Where, where_for, where_matches
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import aware

# nearest_matching: nearest entries fetched unfiltered and filtered in Python, in two growing windows
# (FIRST_WINDOW, at least FIRST_WINDOW_PER_RESULT per result asked, then OVERFETCH), before falling
# back to Chroma's metadata pre-filter.
FIRST_WINDOW = 60
FIRST_WINDOW_PER_RESULT = 12
OVERFETCH = 200
# Up to this many candidate ids, a filtered search asks for the candidates straight away (one
# query restricted to ids, ~3 ms at 10k); above it, the first window is tried before them.
CANDIDATES_FIRST_MAX = 5000
# newest_matching: date slices read back in time (days); most listings stop after one or two.
LIST_SLICE_DAYS = (1, 7, 30, 90, 365)

Row = tuple[str, dict[str, Any]]  # (id, metadata)
Hit = tuple[str, dict[str, Any], float]  # (id, metadata, cosine distance)
Nearest = Callable[[int, Where | None], list[Hit]]
Among = Callable[[list[str], int], list[Hit]]  # the nearest n of these ids, unfiltered


def nearest_matching(
    nearest: Nearest,
    flt: DecisionFilter,
    limit: int,
    *,
    among: Among | None = None,
    candidates: Callable[[], list[str] | None] | None = None,
) -> list[Hit]:
    """The `limit` nearest index entries matching `flt`, nearest first.

    `nearest(n, where)` queries the index. Chroma's own `where` pre-filter reads the metadata of
    every row (25-50 ms at 10k decisions, 0.5 s at 100k, measured), while an unfiltered query is
    about 2 ms plus the metadata of the rows it returns (about 0.07 ms a row: 200 rows cost 13 ms
    at 10k). So a filtered search takes the nearest entries unfiltered and filters them here:
    when at least `limit` of a window match (or the collection had no more entries), those are
    exactly the nearest matching ones. The first window is small (60 rows for the usual limit of
    5: a filter that keeps a fifth of the decisions fills it 99 times in 100 when the filter is
    unrelated to the query), the second OVERFETCH rows.

    A filter that is selective near the query (preAction's category, when the action's words sit
    among another category's decisions) leaves both windows short, and the pre-filter costs 25+
    ms. So when `candidates()` gives the ids that can match (a superset, from the browse
    catalogue), `among(ids, n)` searches those only: a query restricted to ids costs about 3 ms at
    10k. Up to CANDIDATES_FIRST_MAX candidates this is the first and only step; with more, the
    first window is tried before them. Each row is still checked against the filter, so a stale
    candidate is dropped, and the candidate window grows until `limit` rows match or the
    candidates are exhausted. Without candidates (none given, or the catalogue cannot answer
    this filter) the two windows and then Chroma's pre-filter answer.
    """
    where = where_for(flt)
    if where is None:
        return nearest(limit, None)
    ids = candidates() if candidates is not None and among is not None else None
    if ids is not None and among is not None and len(ids) <= CANDIDATES_FIRST_MAX:
        return _among_matching(among, ids, where, limit)
    final = max(OVERFETCH, limit)
    first = min(final, max(FIRST_WINDOW, FIRST_WINDOW_PER_RESULT * limit))
    for n in dict.fromkeys((first, final) if ids is None else (first,)):
        rows = nearest(n, None)
        # The same clause Chroma would apply, evaluated here on the window's rows (built once,
        # not per row).
        matching = [r for r in rows if where_matches(where, r[1])]
        if len(matching) >= limit or len(rows) < n:
            return matching[:limit]
    if ids is not None and among is not None:
        return _among_matching(among, ids, where, limit)
    return nearest(limit, where)[:limit]


def _among_matching(among: Among, ids: list[str], where: Where, limit: int) -> list[Hit]:
    """The `limit` nearest of `ids` that match `where`: a window of `limit` rows first, grown
    fourfold while stale candidates (rows that no longer match) leave it short."""
    n = min(limit, len(ids))
    while n > 0:
        rows = among(ids, n)
        matching = [r for r in rows if where_matches(where, r[1])]
        if len(matching) >= limit or len(rows) < n or n >= len(ids):
            return matching[:limit]
        n = min(len(ids), 4 * n)
    return []


def newest_matching(
    read: Callable[[Where | None], Iterable[Row]], flt: DecisionFilter, limit: int, now: datetime
) -> list[Row]:
    """Up to `limit` rows matching `flt`, newest first (equal dates by ascending id).

    `read(where)` returns every row matching `where`. To avoid reading every record for "the
    newest ten", this reads disjoint date slices (a day, a week, a month, ...) back from `now` and
    stops once a slice boundary has `limit` rows behind it: rows in older slices cannot be newer.
    """
    seen: dict[str, tuple[int, dict[str, Any]]] = {}
    newer_than: datetime | None = None  # upper bound of the next slice (None: open)
    for days in (*LIST_SLICE_DAYS, None):
        lower = None if days is None else now - timedelta(days=days)
        if flt.date_after is not None and (lower is None or lower < aware(flt.date_after)):
            lower = aware(flt.date_after)
        upper = newer_than
        if flt.date_before is not None and (upper is None or upper > aware(flt.date_before)):
            upper = aware(flt.date_before)
        if lower is not None and upper is not None and lower > upper:
            newer_than = lower  # this slice lies after dateBefore: nothing to read in it
            continue
        window = dataclasses.replace(flt, date_after=lower, date_before=upper)
        for i, m in read(where_for(window)):
            seen[i] = (int(m["date_us"]), m)
        if len(seen) >= limit or lower is None or lower == flt.date_after:
            break
        newer_than = lower
    rows = sorted(seen.items(), key=lambda row: (-row[1][0], row[0]))
    return [(i, m) for i, (_, m) in rows[:limit]]
