"""The process-memory tracker sink: items held and written in batches, every put visible to a
flush once the flush returns."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cstp.runtime.local_batches import LocalBatches


def test_items_are_held_until_a_batch_is_full_then_written_in_order() -> None:
    batches: list[list[int]] = []
    sink: LocalBatches[int] = LocalBatches(lambda items: batches.append(list(items)), batch=4)
    for n in range(3):
        sink.put(n)
    assert batches == []
    assert sink.pending() == 3
    sink.put(3)  # fills the batch: this call writes it
    assert batches == [[0, 1, 2, 3]]
    assert sink.pending() == 0


def test_flush_writes_what_is_held_and_nothing_when_empty() -> None:
    batches: list[list[int]] = []
    sink: LocalBatches[int] = LocalBatches(lambda items: batches.append(list(items)), batch=100)
    sink.flush()
    assert batches == []
    sink.put(7)
    sink.put(8)
    sink.flush()
    assert batches == [[7, 8]]


def test_a_flush_returns_only_after_a_batch_another_thread_is_writing() -> None:
    """A record on one thread must see inputs whose batch another thread's call is writing."""
    writing, gate = threading.Event(), threading.Event()
    log: list[str] = []

    def write(items: Sequence[int]) -> None:
        if len(items) == 2:  # the batch the first thread fills
            writing.set()
            gate.wait(10)
        log.append(f"written {list(items)}")

    sink: LocalBatches[int] = LocalBatches(write, batch=2)
    sink.put(1)
    filler = threading.Thread(target=sink.put, args=(2,))
    filler.start()
    assert writing.wait(10)
    flusher = threading.Thread(target=lambda: (sink.flush(), log.append("flushed")))
    flusher.start()
    flusher.join(0.3)  # a flush that did not wait would have returned by now
    gate.set()
    filler.join(10)
    flusher.join(10)
    assert log == ["written [1, 2]", "flushed"]
