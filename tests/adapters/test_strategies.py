"""`strategies.nearest_matching` against an exact oracle, with a fake index that records its calls.

The store contract tests run the same search on real Chroma; these pin which windows are asked
for, so a change that silently widens every filtered search (or skips the pre-filter when it is
needed) is seen.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from cstp.adapters.chroma import strategies
from cstp.adapters.chroma.schema import Where, where_matches
from cstp.adapters.chroma.strategies import FIRST_WINDOW, OVERFETCH, Hit, nearest_matching
from cstp.domain.filters import DecisionFilter


class FakeIndex:
    """Rows at fixed distances; `nearest(n, where)` is the exact top n (of the matching rows)."""

    def __init__(self, rows: list[Hit]) -> None:
        self.rows = sorted(rows, key=lambda r: r[2])
        self.calls: list[tuple[int, bool]] = []

    def nearest(self, n: int, where: Where | None) -> list[Hit]:
        self.calls.append((n, where is not None))
        found = [r for r in self.rows if where is None or where_matches(where, r[1])]
        return found[:n]


def index_of(categories: list[str]) -> FakeIndex:
    rng = random.Random(5)
    rows: list[Hit] = []
    for n, category in enumerate(categories):
        meta: dict[str, Any] = {"category": category, "stakes": "low", "status": "pending", "rev": 1}
        rows.append((f"d{n:05d}", meta, rng.random()))
    return FakeIndex(rows)


def oracle(index: FakeIndex, category: str, limit: int) -> list[str]:
    return [i for i, m, _ in index.rows if m["category"] == category][:limit]


def test_a_common_category_is_answered_from_the_first_window() -> None:
    index = index_of(["security" if n % 3 == 0 else "process" for n in range(1000)])
    hits = nearest_matching(index.nearest, DecisionFilter(category="security"), 5)
    assert [i for i, _, _ in hits] == oracle(index, "security", 5)
    assert index.calls == [(FIRST_WINDOW, False)]


def test_a_rarer_category_widens_to_the_overfetch_window() -> None:
    # One in twenty matches: the first 60 rows hold about three, the next window about ten.
    index = index_of(["security" if n % 20 == 0 else "process" for n in range(2000)])
    window = [i for i, m, _ in index.rows[:FIRST_WINDOW] if m["category"] == "security"]
    assert len(window) < 5 <= len([r for r in index.rows[:OVERFETCH] if r[1]["category"] == "security"])
    hits = nearest_matching(index.nearest, DecisionFilter(category="security"), 5)
    assert [i for i, _, _ in hits] == oracle(index, "security", 5)
    assert index.calls == [(FIRST_WINDOW, False), (OVERFETCH, False)]


def test_a_selective_filter_falls_back_to_the_pre_filter() -> None:
    index = index_of(["security" if n in (7, 1500) else "process" for n in range(2000)])
    hits = nearest_matching(index.nearest, DecisionFilter(category="security"), 5)
    assert sorted(i for i, _, _ in hits) == ["d00007", "d01500"]
    assert index.calls == [(FIRST_WINDOW, False), (OVERFETCH, False), (5, True)]


def test_a_small_collection_is_read_once() -> None:
    index = index_of(["security" if n == 3 else "process" for n in range(30)])
    hits = nearest_matching(index.nearest, DecisionFilter(category="security"), 5)
    assert [i for i, _, _ in hits] == ["d00003"]
    assert index.calls == [(FIRST_WINDOW, False)]


def test_no_filter_asks_for_the_limit_only() -> None:
    index = index_of(["process"] * 100)
    assert len(nearest_matching(index.nearest, DecisionFilter(), 7)) == 7
    assert index.calls == [(7, False)]


def test_a_large_limit_widens_the_first_window() -> None:
    index = index_of(["security" if n % 2 else "process" for n in range(5000)])
    hits = nearest_matching(index.nearest, DecisionFilter(category="security"), 40)
    assert [i for i, _, _ in hits] == oracle(index, "security", 40)
    # 12 per result asked is more than OVERFETCH: one window of OVERFETCH rows, as before.
    assert strategies.FIRST_WINDOW_PER_RESULT * 40 > OVERFETCH
    assert index.calls == [(OVERFETCH, False)]


def test_random_filters_match_the_oracle() -> None:
    rng = random.Random(3)
    for _ in range(50):
        share = rng.choice([2, 5, 40, 400])
        index = index_of(["security" if rng.randrange(share) == 0 else "process" for _ in range(1500)])
        limit = rng.choice([1, 5, 10])
        hits = nearest_matching(index.nearest, DecisionFilter(category="security"), limit)
        assert [i for i, _, _ in hits] == oracle(index, "security", limit)


def among_of(index: FakeIndex) -> Any:
    def among(ids: list[str], n: int) -> list[Hit]:
        index.calls.append((n, False))
        wanted = set(ids)
        return [r for r in index.rows if r[0] in wanted][:n]

    return among


def test_a_selective_filter_searches_the_candidates_instead_of_the_pre_filter() -> None:
    index = index_of(["security" if n in (7, 1500) else "process" for n in range(2000)])
    flt = DecisionFilter(category="security")
    exact = [i for i, m, _ in index.rows if m["category"] == "security"]
    hits = nearest_matching(index.nearest, flt, 5, among=among_of(index), candidates=lambda: exact)
    assert [i for i, _, _ in hits] == oracle(index, "security", 5)
    # Few candidates: searched straight away, no window and no pre-filter.
    assert index.calls == [(2, False)]


def test_many_candidates_come_after_the_first_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(strategies, "CANDIDATES_FIRST_MAX", 10)
    flt = DecisionFilter(category="security")
    common = index_of(["security" if n % 3 == 0 else "process" for n in range(1000)])
    many = [i for i, m, _ in common.rows if m["category"] == "security"]
    hits = nearest_matching(common.nearest, flt, 5, among=among_of(common), candidates=lambda: many)
    assert [i for i, _, _ in hits] == oracle(common, "security", 5)
    assert common.calls == [(FIRST_WINDOW, False)]
    rare = index_of(["security" if n % 40 == 0 else "process" for n in range(2000)])
    few_near = [i for i, m, _ in rare.rows if m["category"] == "security"]
    hits = nearest_matching(rare.nearest, flt, 5, among=among_of(rare), candidates=lambda: few_near)
    assert [i for i, _, _ in hits] == oracle(rare, "security", 5)
    assert rare.calls == [(FIRST_WINDOW, False), (5, False)]


def test_stale_candidates_are_dropped_and_the_window_grows() -> None:
    index = index_of(["security" if n % 50 == 0 else "process" for n in range(2000)])
    flt = DecisionFilter(category="security")
    # Every id is a candidate (a catalogue that knows nothing narrower): all but a fiftieth are
    # stale, so the candidate window grows until five rows pass the filter.
    every = [i for i, _, _ in index.rows]
    hits = nearest_matching(index.nearest, flt, 5, among=among_of(index), candidates=lambda: every)
    assert [i for i, _, _ in hits] == oracle(index, "security", 5)
    assert all(not filtered for _, filtered in index.calls)
    sizes = [n for n, _ in index.calls]
    assert len(sizes) > 1 and sizes == sorted(sizes) and sizes[0] == 5


def test_no_candidates_means_the_pre_filter() -> None:
    index = index_of(["security" if n in (7, 1500) else "process" for n in range(2000)])
    flt = DecisionFilter(category="security")
    hits = nearest_matching(index.nearest, flt, 5, among=among_of(index), candidates=lambda: None)
    assert sorted(i for i, _, _ in hits) == ["d00007", "d01500"]
    assert index.calls[-1] == (5, True)
    empty = index_of(["process"] * 500)
    assert nearest_matching(empty.nearest, flt, 5, among=among_of(empty), candidates=lambda: []) == []
