"""The write-behind queue: put never waits for the store, flush waits for what was put."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cstp.domain.errors import StoreUnavailable
from cstp.runtime.write_behind import WriteBehind


def test_flush_returns_once_everything_put_before_it_is_written() -> None:
    written: list[int] = []
    behind: WriteBehind[int] = WriteBehind(written.extend)
    for n in range(100):
        behind.put(n)
    assert behind.flush()
    assert written == list(range(100))
    behind.close()


def test_put_does_not_wait_for_a_slow_store() -> None:
    gate = threading.Event()
    written: list[int] = []

    def slow(items: Sequence[int]) -> None:
        gate.wait(5)
        written.extend(items)

    behind: WriteBehind[int] = WriteBehind(slow)
    behind.put(1)  # the writer thread is now blocked inside `slow`
    behind.put(2)
    assert written == []  # both puts returned while the store was still busy
    assert not behind.flush(timeout=0.05)
    gate.set()
    assert behind.flush()
    assert written == [1, 2]
    behind.close()


def test_a_full_queue_drops_new_items_instead_of_blocking() -> None:
    gate = threading.Event()
    behind: WriteBehind[int] = WriteBehind(lambda items: gate.wait(5), capacity=2)
    for n in range(10):
        behind.put(n)
    assert behind.dropped >= 7  # one may be in the writer's hands, two queued
    gate.set()
    behind.close()


def test_a_store_failure_is_logged_and_the_queue_moves_on() -> None:
    calls: list[Sequence[int]] = []

    def failing(items: Sequence[int]) -> None:
        calls.append(list(items))
        raise StoreUnavailable("down")

    behind: WriteBehind[int] = WriteBehind(failing)
    behind.put(1)
    assert behind.flush()
    behind.put(2)
    assert behind.flush()
    assert [x for c in calls for x in c] == [1, 2]
    behind.close()


def test_rows_are_written_together_after_the_linger_and_flush_cuts_it_short() -> None:
    batches: list[list[int]] = []
    behind: WriteBehind[int] = WriteBehind(lambda items: batches.append(list(items)), linger=60)
    for n in range(5):
        behind.put(n)
    assert batches == []  # still lingering (a minute)
    assert behind.flush()
    assert batches == [[0, 1, 2, 3, 4]]
    behind.close()
