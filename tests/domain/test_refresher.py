"""Refresher: when a read model reads the store, in the caller or behind it (on an injected clock)."""

from __future__ import annotations

import threading
import time

import pytest

from cstp.domain.errors import StoreUnavailable
from cstp.domain.refresher import Refresher


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Reads:
    """The read a model hands its refresher: counts calls, optionally held at a gate or failing."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads: list[str] = []
        self.hold = False
        self.fail = False
        self.entered = threading.Event()
        self.gate = threading.Event()

    def __call__(self) -> None:
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        if self.hold:
            self.entered.set()
            assert self.gate.wait(30)
        if self.fail:
            raise StoreUnavailable("down")


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def idle(refresher: Refresher) -> bool:
    """No read running (a read holds `_running` from its start to its end)."""
    if not refresher._running.acquire(blocking=False):
        return False
    refresher._running.release()
    return True


def test_young_models_read_nothing_and_old_ones_read_in_the_caller() -> None:
    clock, reads = Clock(), Reads()
    refresher = Refresher(reads, name="model", clock=clock)
    refresher.ensure(1.0)  # never read: older than any bound
    assert reads.calls == 1 and reads.threads == [threading.current_thread().name]
    clock.now += 0.4
    refresher.ensure(1.0)
    assert reads.calls == 1
    clock.now += 5.0  # an idle spell: the first caller after it reads before answering
    refresher.ensure(1.0)
    assert reads.calls == 2 and refresher.age() == 0.0


def test_past_half_the_bound_the_read_runs_behind_the_caller() -> None:
    clock, reads = Clock(), Reads()
    refresher = Refresher(reads, name="model-feed", clock=clock)
    refresher.ensure(1.0)
    clock.now += 0.6
    reads.hold = True
    refresher.ensure(1.0)  # returns although the read is held at the gate
    assert reads.entered.wait(30) and reads.threads[-1] == "model-feed"
    refresher.ensure(1.0)  # one read at a time: a caller finding one running answers at once
    clock.now += 0.6  # past the bound, but a read is running: still no second one
    refresher.ensure(1.0)
    assert reads.calls == 2
    reads.gate.set()
    wait_for(lambda: idle(refresher), "the background read never finished")
    assert refresher.age() == pytest.approx(0.6)  # counted from when that read began


def test_now_reads_whatever_the_age() -> None:
    clock, reads = Clock(), Reads()
    refresher = Refresher(reads, name="model", clock=clock)
    refresher.ensure(1.0)
    refresher.ensure(1.0, now=True)
    assert reads.calls == 2


def test_a_failed_background_read_leaves_the_next_caller_past_the_bound_to_see_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, reads = Clock(), Reads()
    refresher = Refresher(reads, name="model", clock=clock)
    refresher.ensure(1.0)
    reads.fail = True
    clock.now += 0.6
    refresher.ensure(1.0)
    wait_for(lambda: any(r.message == "background refresh failed" for r in caplog.records), "not logged")
    wait_for(lambda: idle(refresher), "the background read never ended")
    assert refresher.age() == pytest.approx(0.6)  # not counted as fresh
    clock.now += 0.5
    with pytest.raises(StoreUnavailable):
        refresher.ensure(1.0)
    reads.fail = False
    refresher.ensure(1.0)
    assert refresher.age() == 0.0
