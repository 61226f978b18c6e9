"""The `BreakerStore` contract, on memory, embedded Chroma and a Chroma server.

"Two stores" are two `ChromaStore`s opened on the same database (two server processes); for
memory, one `MemoryBreakers` shared the way tests share it between services.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from cstp.adapters.chroma.store import ChromaStore
from cstp.adapters.memory_breakers import MemoryBreakers
from cstp.domain.breakers.state import BreakerEvent
from cstp.domain.ports import BreakerStore
from tests.adapters.test_store_contract import Backend, backend

__all__ = ["backend"]

Open = Callable[[], BreakerStore]


@pytest.fixture
def open_log(backend: Backend) -> Iterator[Open]:
    if backend.kind == "memory":
        shared = MemoryBreakers()
        yield lambda: shared
        return

    def open_chroma() -> BreakerStore:
        store = backend.open()
        assert isinstance(store, ChromaStore)
        return store.breaker_store()

    yield open_chroma


def ev(
    event_id: str, scope: str = "stakes:high", kind: str = "failure", at: int = 1000, data: str = "{}"
) -> BreakerEvent:
    return BreakerEvent(event_id, scope, kind, at, data)  # type: ignore[arg-type]


def by_id(events: list[BreakerEvent]) -> dict[str, BreakerEvent]:
    return {e.id: e for e in events}


def test_appended_events_round_trip_and_are_read_by_scope(open_log: Open) -> None:
    log = open_log()
    events = [
        ev("a", data='{"decision": "d1"}'),
        ev("b", kind="success", at=2_000_000_000_123),
        ev("c", scope="tag:payments|x", kind="reset", data='{"probe_first": true}'),
    ]
    log.append(events)
    assert by_id(log.events(["stakes:high"])) == {"a": events[0], "b": events[1]}
    assert by_id(log.events(["stakes:high", "tag:payments|x"])) == by_id(events)
    assert log.events(["global"]) == [] and log.events([]) == []


def test_appending_an_id_again_replaces_the_event(open_log: Open) -> None:
    log = open_log()
    log.append([ev("same", kind="failure", at=1)])
    log.append([ev("same", kind="success", at=2)])
    assert log.events(["stakes:high"]) == [ev("same", kind="success", at=2)]


def test_another_store_on_the_same_database_sees_the_events(open_log: Open) -> None:
    one, two = open_log(), open_log()
    one.append([ev("x1"), ev("x2")])
    assert set(by_id(two.events(["stakes:high"]))) == {"x1", "x2"}


def test_delete_removes_events_and_ignores_unknown_ids(open_log: Open) -> None:
    log = open_log()
    log.append([ev("k1"), ev("k2"), ev("k3")])
    log.delete(["k1", "k3", "never-stored"])
    log.delete([])
    assert set(by_id(log.events(["stakes:high"]))) == {"k2"}


def test_insert_if_absent_keeps_the_first_event(open_log: Open) -> None:
    one, two = open_log(), open_log()
    first = ev("stakes:high|probe|c1", kind="probe", data='{"token": "one"}')
    assert one.insert_if_absent(first) == first
    second = ev("stakes:high|probe|c1", kind="probe", at=2000, data='{"token": "two"}')
    assert two.insert_if_absent(second) == first
    assert one.events(["stakes:high"]) == [first]


def test_of_concurrent_claims_exactly_one_wins(open_log: Open) -> None:
    logs = [open_log() for _ in range(4)]
    for log in logs:  # connect first (chromadb's embedded client does not open concurrently)
        log.events(["warm-up"])

    def claim(i: int) -> bool:
        mine = ev("stakes:high|probe|race", kind="probe", data=f'{{"token": "{i}"}}')
        return logs[i].insert_if_absent(mine).data == mine.data

    with ThreadPoolExecutor(4) as pool:
        wins = list(pool.map(claim, range(4)))
    assert wins.count(True) == 1


def test_many_scopes_are_read_in_one_call(open_log: Open) -> None:
    log = open_log()
    scopes = [f"tag:t{i}" for i in range(450)]
    log.append([ev(f"e{i}", scope=s) for i, s in enumerate(scopes)])
    assert len(log.events(scopes)) == 450
