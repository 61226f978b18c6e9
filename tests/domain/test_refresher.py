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
    # Callers asked during that read, so the worker reads again once the model is half the bound
    # old (it is already: the read began 0.6 ago), then stops: nobody asked during the second.
    wait_for(lambda: reads.calls == 3 and idle(refresher), "the worker did not keep the model fresh")
    assert refresher.age() == 0.0 and reads.threads[-1] == "model-feed"
    time.sleep(0.05)
    assert reads.calls == 3


def test_while_callers_ask_the_worker_keeps_the_model_fresh_and_stops_when_they_stop() -> None:
    clock, reads = Clock(), Reads()
    refresher = Refresher(reads, name="model-feed", clock=clock)
    refresher.ensure(1.0)
    clock.now += 0.6
    refresher.ensure(1.0)  # the first background read
    wait_for(lambda: reads.calls == 2 and idle(refresher), "the background read never ran")
    refresher.ensure(1.0)  # asked, but the model is young: nothing read now ...
    assert reads.calls == 2
    clock.now += 0.5  # ... and once it is half the bound old, the worker reads on its own
    wait_for(lambda: reads.calls == 3 and idle(refresher), "the worker did not read when due")
    assert refresher.age() == 0.0 and reads.threads[-1] == "model-feed"
    clock.now += 0.5  # due again, but nobody asked since that read began: the worker stops
    time.sleep(0.1)
    assert reads.calls == 3
    clock.now += 0.6  # past the bound now: the next caller reads itself, as after any idle spell
    refresher.ensure(1.0)
    assert reads.calls == 4 and reads.threads[-1] == threading.current_thread().name


def test_the_worker_keeps_to_the_smallest_bound_asked() -> None:
    clock, reads = Clock(), Reads()
    refresher = Refresher(reads, name="model-feed", clock=clock)
    refresher.ensure(1.0)
    clock.now += 0.6
    refresher.ensure(1.0)
    wait_for(lambda: reads.calls == 2 and idle(refresher), "the background read never ran")
    refresher.ensure(0.2)  # a caller with a tighter bound (a filtered search)
    refresher.ensure(1.0)
    clock.now += 0.15  # past half of 0.2, far from half of 1.0
    wait_for(lambda: reads.calls == 3, "the worker did not keep to the tighter bound")


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
    reads.fail = reads.hold = True
    clock.now += 0.6
    refresher.ensure(1.0)
    assert reads.entered.wait(30)
    refresher.ensure(1.0)  # asked during the read, which fails ...
    reads.gate.set()
    wait_for(lambda: any(r.message == "background refresh failed" for r in caplog.records), "not logged")
    wait_for(lambda: idle(refresher), "the background read never ended")
    assert refresher.age() == pytest.approx(0.6)  # not counted as fresh
    time.sleep(0.1)  # ... but after a failure the worker stops: a down store is not polled
    assert reads.calls == 2
    reads.hold = False
    clock.now += 0.5
    with pytest.raises(StoreUnavailable):
        refresher.ensure(1.0)
    reads.fail = False
    refresher.ensure(1.0)
    assert refresher.age() == 0.0


def test_a_caller_that_may_not_wait_is_stopped_before_it_reads() -> None:
    from cstp.domain.waiting import WouldWait, answering_inline

    clock, reads = Clock(), Reads()
    refresher = Refresher(reads, name="model", clock=clock)
    with pytest.raises(WouldWait), answering_inline():
        refresher.ensure(1.0)  # never read: the caller would read itself
    assert reads.calls == 0 and idle(refresher)
    refresher.ensure(1.0)  # run again where it may wait
    assert reads.calls == 1
    clock.now += 0.6
    with answering_inline():
        refresher.ensure(1.0)  # past half the bound: the read runs behind, nothing to wait for
    wait_for(lambda: reads.calls == 2, "the background read never ran")
