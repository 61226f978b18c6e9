"""An id prefix matching several decisions is -32602 listing them, for every method taking an id."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cstp.domain.records import Decision
from tests.conftest import rpc

NOW = datetime.now(UTC)

# (method, params besides the id): every method that resolves a decision id.
BY_ID = [
    ("cstp.getDecision", {}),
    ("cstp.reviewDecision", {"outcome": "success"}),
    ("cstp.updateDecision", {"updates": {"confidence": 0.9}}),
]


def seed(client: Any, *ids: str) -> None:
    store = client.app.state.adapters.store
    decisions = [
        Decision(
            id=i, decision=f"decision {i}", confidence=0.5, category="process", date=NOW - timedelta(days=n)
        )
        for n, i in enumerate(ids)
    ]
    store.save([(d, None) for d in decisions])  # records only; a write indexes them


@pytest.mark.parametrize(("method", "params"), BY_ID, ids=[m for m, _ in BY_ID])
def test_an_ambiguous_prefix_is_invalid_params_naming_the_candidates(
    client: Any, method: str, params: dict[str, Any]
) -> None:
    seed(client, "9a000001", "9b000002", "c0000003")
    error = rpc(client, method, {"id": "9", **params})["error"]
    assert error["code"] == -32602
    assert error["data"] == {"field": "id", "candidates": ["9a000001", "9b000002"]}
    assert "9a000001" in error["message"] and "9b000002" in error["message"]
    # Neither candidate was touched.
    for rid in ("9a000001", "9b000002"):
        d = rpc(client, "cstp.getDecision", {"id": rid})["result"]["decision"]
        assert d["rev"] == 1 and d["status"] == "pending" and d["confidence"] == 0.5


@pytest.mark.parametrize(("method", "params"), BY_ID, ids=[m for m, _ in BY_ID])
def test_a_longer_prefix_resolves_and_a_full_id_wins_over_longer_ids(
    client: Any, method: str, params: dict[str, Any]
) -> None:
    seed(client, "9a000001", "9b000002", "9b")  # "9b" is a full id and a prefix of "9b000002"
    assert "result" in rpc(client, method, {"id": "9a", **params})
    reply = rpc(client, method, {"id": "9b", **params})
    assert "result" in reply, reply
    assert rpc(client, "cstp.getDecision", {"id": "9b"})["result"]["decision"]["id"] == "9b"


def test_many_candidates_are_listed_up_to_ten_and_flagged(client: Any) -> None:
    seed(client, *(f"ab{n:06d}" for n in range(12)))
    error = rpc(client, "cstp.getDecision", {"id": "ab"})["error"]
    assert error["data"]["candidates"] == [f"ab{n:06d}" for n in range(10)]
    assert error["data"]["more"] is True and error["message"].endswith("; send more characters")


def test_a_prefix_matching_nothing_keeps_each_methods_not_found(client: Any) -> None:
    seed(client, "9a000001", "9b000002")
    assert rpc(client, "cstp.getDecision", {"id": "7"})["result"]["found"] is False
    assert rpc(client, "cstp.reviewDecision", {"id": "7", "outcome": "success"})["error"]["code"] == -32602
    assert (
        rpc(client, "cstp.updateDecision", {"id": "7", "updates": {"pattern": "p"}})["result"]["success"]
        is False
    )


def test_once_the_catalogue_is_loaded_a_prefix_or_a_missing_id_reads_no_id_from_the_store(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store can only page through every id to find a prefix; the browse catalogue holds them.
    seed(client, "7a000001", "7b000002")
    rpc(client, "cstp.listDecisions", {})  # starts the catalogue's first load
    browse = client.app.state.services.browse
    for _ in range(200):
        if browse.catalogue_state == "loaded":
            break
        time.sleep(0.05)
    assert browse.catalogue_state == "loaded"
    store = client.app.state.adapters.store
    scans: list[str] = []
    inner = store.ids_with_prefix
    monkeypatch.setattr(store, "ids_with_prefix", lambda p, n: scans.append(p) or inner(p, n))
    assert rpc(client, "cstp.getDecision", {"id": "7b"})["result"]["decision"]["id"] == "7b000002"
    assert rpc(client, "cstp.getDecision", {"id": "7c"})["result"]["found"] is False
    assert rpc(client, "cstp.getDecision", {"id": "7"})["error"]["data"]["candidates"] == [
        "7a000001",
        "7b000002",
    ]
    seed(client, "7b000003")  # written around the write path: the catalogue sees it on the next call
    assert rpc(client, "cstp.getDecision", {"id": "7b"})["error"]["data"]["candidates"] == [
        "7b000002",
        "7b000003",
    ]
    assert scans == []
