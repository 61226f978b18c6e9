"""The Chroma metadata layout and the DecisionFilter → `where` translation (no Chroma needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from cstp.adapters.chroma.schema import (
    decision_from_metadata,
    epoch_micros,
    is_unsatisfiable,
    metadata_for,
    where_for,
    where_matches,
)
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision, Reason, Review

WHEN = datetime(2024, 4, 10, 12, 0, 0, 500000, tzinfo=UTC)


def decision(**fields: Any) -> Decision:
    values: dict[str, Any] = {
        "id": "abcd1234",
        "decision": "Use PostgreSQL",
        "category": "architecture",
        "confidence": 1,
        "stakes": "high",
        "date": WHEN,
    }
    values.update(fields)
    return Decision(**values)


def operators_are_single_keyed(where: Any) -> bool:
    """Chroma refuses a dict with several top-level keys anywhere in a where tree."""
    if isinstance(where, dict):
        return len(where) == 1 and all(operators_are_single_keyed(v) for v in where.values())
    if isinstance(where, list):
        return all(operators_are_single_keyed(v) for v in where if isinstance(v, dict))
    return True


# --- metadata ------------------------------------------------------------------------------------


def test_metadata_omits_absent_fields() -> None:
    meta = metadata_for(decision())
    assert set(meta) == {"category", "stakes", "status", "confidence", "date_us", "rev", "record"}
    assert None not in meta.values()


def test_metadata_has_typed_scalars_and_one_key_per_tag() -> None:
    meta = metadata_for(decision(project="p", feature="f", pr=7, recorded_by="alice", tags=("db", "sql")))
    assert meta["confidence"] == 1.0 and isinstance(meta["confidence"], float)
    assert meta["pr"] == 7 and isinstance(meta["pr"], int)
    assert meta["date_us"] == 1712750400500000
    assert (meta["project"], meta["feature"], meta["recorded_by"]) == ("p", "f", "alice")
    assert meta["tag:db"] is True and meta["tag:sql"] is True
    assert all(isinstance(v, str | int | float | bool) for v in meta.values())


def test_metadata_record_rebuilds_the_whole_decision() -> None:
    d = decision(
        context="ctx",
        reasons=(Reason("analysis", "fast"),),
        tags=("x",),
        details={"bridge": {"structure": "s"}, "trace": [1, 2]},
        pr=3,
    ).with_review(Review("success", WHEN + timedelta(days=1), "bob", lessons="l"))
    meta = metadata_for(d)
    assert json.loads(str(meta["record"]))["id"] == d.id
    assert decision_from_metadata(dict(meta)) == d
    assert meta["rev"] == 2 and meta["status"] == "reviewed"


def test_epoch_micros_is_exact_and_treats_naive_as_utc() -> None:
    assert epoch_micros(datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)) == 1
    assert epoch_micros(datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)) == -1_000_000
    assert epoch_micros(datetime(2024, 4, 10, 12)) == epoch_micros(datetime(2024, 4, 10, 12, tzinfo=UTC))
    plus2 = timezone(timedelta(hours=2))
    assert epoch_micros(datetime(2024, 4, 10, 14, tzinfo=plus2)) == epoch_micros(
        datetime(2024, 4, 10, 12, tzinfo=UTC)
    )


# --- where ---------------------------------------------------------------------------------------


def test_empty_filter_has_no_where() -> None:
    assert where_for(DecisionFilter()) is None


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (DecisionFilter(category="security"), {"category": "security"}),
        (DecisionFilter(min_confidence=1), {"confidence": {"$gte": 1.0}}),
        (DecisionFilter(max_confidence=0.25), {"confidence": {"$lte": 0.25}}),
        (DecisionFilter(date_after=WHEN), {"date_us": {"$gte": 1712750400500000}}),
        (DecisionFilter(date_before=WHEN), {"date_us": {"$lte": 1712750400500000}}),
        (DecisionFilter(stakes=("low", "high", "low")), {"stakes": {"$in": ["low", "high"]}}),
        (DecisionFilter(statuses=("reviewed",)), {"status": {"$in": ["reviewed"]}}),
        (DecisionFilter(has_outcome=False), {"status": {"$in": ["pending"]}}),
        (
            DecisionFilter(statuses=("pending", "reviewed"), has_outcome=True),
            {"status": {"$in": ["reviewed"]}},
        ),
        (DecisionFilter(project="acme"), {"project": "acme"}),
        (DecisionFilter(feature="search"), {"feature": "search"}),
        (DecisionFilter(pr=12), {"pr": 12}),
        (DecisionFilter(tags=("db",)), {"tag:db": True}),
        (
            DecisionFilter(tags=("db", "ml", "db")),
            {"$or": [{"tag:db": True}, {"tag:ml": True}]},
        ),
        (DecisionFilter(recorded_by="alice"), {"recorded_by": "alice"}),
    ],
)
def test_each_filter_field_alone(flt: DecisionFilter, expected: dict[str, Any]) -> None:
    assert where_for(flt) == expected


def test_min_confidence_is_sent_as_a_float() -> None:
    where = where_for(DecisionFilter(min_confidence=1))
    assert where is not None
    assert isinstance(where["confidence"]["$gte"], float)


def test_several_fields_are_joined_with_and() -> None:
    flt = DecisionFilter(category="architecture", project="acme", tags=("a", "b"), pr=3)
    assert where_for(flt) == {
        "$and": [
            {"category": "architecture"},
            {"project": "acme"},
            {"pr": 3},
            {"$or": [{"tag:a": True}, {"tag:b": True}]},
        ]
    }


def test_every_field_at_once_stays_single_keyed() -> None:
    flt = DecisionFilter(
        category="process",
        min_confidence=0.1,
        max_confidence=0.9,
        date_after=WHEN - timedelta(days=1),
        date_before=WHEN,
        stakes=("low",),
        statuses=("pending",),
        project="p",
        feature="f",
        pr=1,
        has_outcome=False,
        tags=("t1", "t2"),
        recorded_by="r",
    )
    where = where_for(flt)
    assert where is not None and len(where["$and"]) == 12
    assert operators_are_single_keyed(where)


def test_contradictory_statuses_are_unsatisfiable() -> None:
    flt = DecisionFilter(statuses=("pending",), has_outcome=True)
    assert is_unsatisfiable(flt)
    with pytest.raises(ValueError, match="matches no decision"):
        where_for(flt)


def test_ordinary_filters_are_satisfiable() -> None:
    assert not is_unsatisfiable(DecisionFilter())
    assert not is_unsatisfiable(DecisionFilter(statuses=("pending",), has_outcome=False))


# --- the `where` evaluator -------------------------------------------------------------------------


def test_where_evaluator_joins_and_or_and_compares_like_chroma() -> None:
    meta = {"category": "security", "confidence": 0.5, "tag:db": True}
    assert where_matches({"$and": [{"category": "security"}, {"confidence": {"$gte": 0.5}}]}, meta)
    assert not where_matches({"$and": [{"category": "security"}, {"confidence": {"$lte": 0.4}}]}, meta)
    assert where_matches({"$or": [{"tag:x": True}, {"tag:db": True}]}, meta)
    assert where_matches({"category": {"$in": ["process", "security"]}}, meta)
    assert where_matches({"category": {"$eq": "security"}}, meta)


def test_where_evaluator_never_matches_a_missing_key() -> None:
    assert not where_matches({"project": {"$in": ["a"]}}, {})
    assert not where_matches({"pr": {"$gte": 0}}, {})


def test_where_evaluator_refuses_what_cstp_never_emits() -> None:
    with pytest.raises(ValueError, match="not part of the dialect"):
        where_matches({"confidence": {"$gt": 0.5}}, {"confidence": 0.9})
    with pytest.raises(ValueError, match="exactly one key"):
        where_matches({"a": 1, "b": 2}, {"a": 1, "b": 2})
