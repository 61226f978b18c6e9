"""The TrackerStore contract on memory, embedded Chroma and a Chroma server; and two Chroma
stores on one database see each other's rows (what lets two server processes meet)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cstp.adapters.memory_tracker import MemoryTracker
from cstp.domain.ports import TrackerStore
from cstp.domain.tracker import TrackerRow
from tests.adapters.test_store_contract import Backend, backend

__all__ = ["backend"]

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _row(
    row_id: str, owner: str = "alice", kind: Any = "input", key: str = "rpc:alice", **kw: Any
) -> TrackerRow:
    values: dict[str, Any] = {
        "created_at": T0,
        "expires_at": T0 + timedelta(seconds=300),
        "payload": {"type": "query", "text": f"text {row_id}", "nested": {"n": 1, "list": [1, "a"]}},
    }
    values.update(kw)
    return TrackerRow(row_id, owner, kind, key, **values)


def _tracker(backend: Backend) -> TrackerStore:
    if backend.kind == "memory":
        return MemoryTracker()
    opened = backend.open()
    return opened.tracker()  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def rows(backend: Backend) -> TrackerStore:
    return _tracker(backend)


def test_a_row_round_trips_with_its_payload(rows: TrackerStore) -> None:
    row = _row("q-1")
    rows.add([row])
    assert rows.rows("alice", "input", T0) == [row]


def test_rows_are_selected_by_owner_and_kind(rows: TrackerStore) -> None:
    rows.add([_row("q-1"), _row("q-2", owner="bob", key="rpc:bob"), _row("c-1", kind="consumed")])
    assert [r.id for r in rows.rows("alice", "input", T0)] == ["q-1"]
    assert [r.id for r in rows.rows("bob", "input", T0)] == ["q-2"]
    assert [r.id for r in rows.rows("alice", "consumed", T0)] == ["c-1"]
    assert sorted(r.id for r in rows.rows(None, "input", T0)) == ["q-1", "q-2"]


def test_expired_rows_are_not_read_and_are_listed_for_purging(rows: TrackerStore) -> None:
    rows.add([_row("old", expires_at=T0 + timedelta(seconds=10)), _row("new")])
    later = T0 + timedelta(seconds=10)
    assert [r.id for r in rows.rows("alice", "input", later)] == ["new"]
    assert [r.id for r in rows.expired(later)] == ["old"]
    rows.delete(["old", "never-there"])
    assert rows.expired(later) == []
    assert [r.id for r in rows.rows("alice", "input", T0)] == ["new"]


def test_adding_the_same_id_replaces_the_row(rows: TrackerStore) -> None:
    rows.add([_row("x-1", payload={"a": 1})])
    rows.add([_row("x-1", payload={"b": 2})])
    assert [r.payload for r in rows.rows("alice", "input", T0)] == [{"b": 2}]


def test_a_large_packed_payload_round_trips_and_replaces_a_small_one(rows: TrackerStore) -> None:
    """Packed rows of many inputs are stored compressed on Chroma: they read back exactly, and a
    row written again in the other form (large after small, small after large) is the new one."""
    inputs = [
        {"id": f"g-{n:08x}", "text": f"Checked 'deploy {n}': allowed ünïcode", "n": n} for n in range(300)
    ]
    rows.add([_row("b-1", payload={"a": 1})])
    rows.add([_row("b-1", payload={"inputs": inputs})])
    assert [r.payload for r in rows.rows("alice", "input", T0)] == [{"inputs": inputs}]
    rows.add([_row("b-1", payload={"small": True})])
    assert [r.payload for r in rows.rows("alice", "input", T0)] == [{"small": True}]


def test_two_stores_on_one_chroma_database_share_rows(backend: Backend) -> None:
    if backend.kind == "memory":
        pytest.skip("memory rows live in one object")
    first, second = _tracker(backend), _tracker(backend)
    first.add([_row("q-9")])
    assert [r.id for r in second.rows("alice", "input", T0)] == ["q-9"]
    second.delete(["q-9"])
    assert first.rows("alice", "input", T0) == []
