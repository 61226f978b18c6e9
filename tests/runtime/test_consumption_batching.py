"""Concurrent records' consumptions share store calls (the tracker's commit through a Coalescer, as
the server wires it), and each record still returns only after its own inputs are cleared."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from cstp.adapters.memory_tracker import MemoryTracker
from cstp.domain.tracker import SinkItem, Tracker, TrackerRow
from cstp.runtime.coalesce import Coalescer


class HeldRows(MemoryTracker):
    """MemoryTracker counting writes once `armed`; the first one then waits at `gate`."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.writes = 0
        self.deletes = 0
        self.entered = threading.Event()
        self.gate = threading.Event()

    def add(self, rows: Sequence[TrackerRow]) -> None:
        if self.armed:
            self.writes += 1
            if self.writes == 1:
                self.entered.set()
                assert self.gate.wait(30)
        super().add(rows)

    def delete(self, ids: Sequence[str]) -> None:
        self.deletes += 1
        super().delete(ids)


def test_concurrent_consumptions_are_one_batch_of_store_calls() -> None:
    rows = HeldRows()
    tracker: Tracker

    def apply(items: list[SinkItem]) -> list[None]:
        tracker.apply(items)
        return [None] * len(items)

    commit: Coalescer[SinkItem, None] = Coalescer(apply)
    tracker = Tracker(rows, commit=commit.submit)
    owners = [f"a{n}" for n in range(9)]
    for owner in owners:
        tracker.capture(owner, f"rpc:{owner}", "query", f"asked by {owner}", "cstp:queryDecisions")
    taken = {owner: tracker.take(owner, [f"rpc:{owner}"]) for owner in owners}
    rows.armed = True
    with ThreadPoolExecutor(len(owners)) as pool:
        first = pool.submit(tracker.consumed, taken["a0"], "d-a0")
        assert rows.entered.wait(30)  # a0's batch holds the store
        rest = [pool.submit(tracker.consumed, taken[o], f"d-{o}") for o in owners[1:]]
        deadline = time.monotonic() + 30
        while len(commit._queue) < len(rest):  # all eight queued behind a0's batch
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not any(f.done() for f in rest)  # each waits for its own consumption to be written
        rows.gate.set()
        for f in (first, *rest):
            f.result(timeout=30)
    # One store call per batch (history lines and tombstones in one upsert): a0 alone, then the
    # eight that queued behind it together; nothing deleted on the request path.
    assert (rows.writes, rows.deletes) == (2, 0)
    assert tracker.inputs(None) == []
    assert sorted(e.decision_id or "" for _, e in tracker.history(None)) == sorted(f"d-{o}" for o in owners)
