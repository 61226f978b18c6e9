"""Every declared field round-trips through the codec, every store and every filter.

The decision built here sets each field of `Decision` (and `Review`) from its type hint, so a field
added to the dataclass is covered with no edit to this file: if the codec or a store drops it, a
test fails. Every `DecisionFilter` field must have a case below (a test checks that), and each case
must select exactly what `DecisionFilter.matches` selects on every backend.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cstp.adapters.chroma.schema import metadata_for, where_for, where_matches
from cstp.domain import codec
from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import DecisionStore
from cstp.domain.records import Decision, Reason, Review
from tests.adapters.test_store_contract import backend, store  # noqa: F401 - shared fixtures

WHEN = datetime(2024, 6, 1, 8, 30, 15, 123456, tzinfo=UTC)


def sample(name: str, hint: Any) -> Any:
    """A non-default value of the field's type, distinct per field name."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = args[0]
    if hint is str:
        return f"{name}-value"
    if hint is bool:
        return True  # every bool field defaults to False
    if hint is float:
        return 0.37
    if hint is int:
        return 7 + len(name)
    if hint is datetime:
        return WHEN
    if hint is Review:
        values = {f.name: sample(f.name, h) for f, h in _hinted(Review)}
        return Review(**values | {"outcome": "partial"})
    if typing.get_origin(hint) is tuple:
        (item, _) = typing.get_args(hint)
        return (
            (Reason("analysis", "benchmarks", 0.9), Reason("authority", "lead"))
            if item is Reason
            else ("a", "b")
        )
    if typing.get_origin(hint) is dict:
        return {"trace": [{"step": 1}], "custom_key": {"nested": [1, 2.5, None, "x"]}, "kpi": 3}
    raise AssertionError(f"add a sample for {name}: {hint}")


def _hinted(cls: type) -> list[tuple[dataclasses.Field[Any], Any]]:
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


def every_field(**overrides: Any) -> Decision:
    values = {f.name: sample(f.name, hint) for f, hint in _hinted(Decision)}
    values |= {"id": "f1e1d5ab", "status": "reviewed", "category": "tooling", "stakes": "high"}
    return Decision(**values | overrides)


def test_every_field_round_trips_through_the_codec() -> None:
    d = every_field()
    record = codec.to_record(d)
    for f in dataclasses.fields(Decision):
        if f.name not in ("details", "review"):
            assert f.name in record, f"{f.name} is missing from the stored record"
    assert codec.from_record(record) == d


def test_details_never_overwrite_a_declared_field() -> None:
    # A stale copy of a typed key in `details` (as an older build might have left) loses.
    d = every_field(details={"project": "stale", "custom": 1})
    record = codec.to_record(d)
    assert record["project"] == "project-value" and record["custom"] == 1
    assert codec.from_record(record).details == {"custom": 1}


def test_every_field_round_trips_through_every_store(store: DecisionStore) -> None:  # noqa: F811
    d = every_field()
    store.save([(d, [1.0, 0.0, 0.0])])
    assert store.get(d.id) == d
    assert store.ids_with_prefix(d.id[:4], 2) == [d.id]
    assert list(store.scan()) == [d]
    assert store.list(DecisionFilter(), 5) == [d]
    assert [h.decision for h in store.search([1.0, 0.0, 0.0], DecisionFilter(), 5)] == [d]


# Each filter field: (value that selects `every_field()`, value that excludes it).
FILTER_CASES: dict[str, tuple[Any, Any]] = {
    "category": ("tooling", "security"),
    "min_confidence": (0.37, 0.38),
    "max_confidence": (0.37, 0.36),
    "date_after": (WHEN, WHEN + timedelta(microseconds=1)),
    "date_before": (WHEN, WHEN - timedelta(microseconds=1)),
    "stakes": (("low", "high"), ("low",)),
    "statuses": (("reviewed",), ("pending",)),
    "project": ("project-value", "other"),
    "feature": ("feature-value", "other"),
    "pr": (9, 10),
    "has_outcome": (True, False),
    "tags": (("b", "z"), ("z",)),
    "recorded_by": ("recorded_by-value", "someone-else"),
}


def test_every_filter_field_has_a_case() -> None:
    assert set(FILTER_CASES) == {f.name for f in dataclasses.fields(DecisionFilter)}


@pytest.mark.parametrize("name", sorted(FILTER_CASES))
def test_each_filter_field_selects_as_the_reference_on_every_store(
    store: DecisionStore,  # noqa: F811
    name: str,
) -> None:
    d = every_field()
    store.save([(d, [1.0, 0.0, 0.0])])
    selecting, excluding = (DecisionFilter(**{name: v}) for v in FILTER_CASES[name])
    assert selecting.matches(d) and not excluding.matches(d)  # the case itself is right
    # The Chroma form knows the field: a clause exists and the evaluator agrees with the oracle.
    for flt in (selecting, excluding):
        where = where_for(flt)
        assert where is not None, f"where_for ignores {name}"
        assert where_matches(where, metadata_for(d)) == flt.matches(d)
    assert store.list(selecting, 5) == [d] and store.list(excluding, 5) == []
    assert [h.decision for h in store.search([1.0, 0.0, 0.0], selecting, 5)] == [d]
    assert store.search([1.0, 0.0, 0.0], excluding, 5) == []
    assert list(store.scan(selecting)) == [d] and list(store.scan(excluding)) == []
