"""WriteAdmission on a fake clock: what it measures, when it refuses, what it tells the caller."""

from __future__ import annotations

import pytest

from cstp.domain.errors import Busy
from cstp.runtime.admission import (
    HINT_MAX_S,
    SHORTFALL_MIN,
    UNMEASURED_IN_FLIGHT,
    WriteAdmission,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_write_finding_nothing_in_flight_is_always_admitted() -> None:
    clock = Clock()
    writes = WriteAdmission(0.5, clock=clock)
    for _ in range(3):  # one at a time, each 10 s: slow, but never anything queued in front
        with writes.slot():
            clock.now += 10.0
    assert writes.expected_wait() == 0.0
    with writes.slot():
        pass


def test_idle_time_between_writes_is_not_taken_for_service_time() -> None:
    clock = Clock()
    writes = WriteAdmission(0.5, clock=clock)
    a, b = writes.slot(), writes.slot()
    a.__enter__()
    b.__enter__()
    clock.now += 0.1
    a.__exit__(None, None, None)
    clock.now += 0.1
    b.__exit__(None, None, None)  # busy throughout since a finished: one interval of 0.1 s
    clock.now += 60.0  # idle
    c = writes.slot()
    c.__enter__()
    clock.now += 0.1
    c.__exit__(None, None, None)  # its interval since b contains a minute of idle: not counted
    d = writes.slot()
    d.__enter__()
    assert writes.expected_wait() == pytest.approx(0.1)  # one in flight × 0.1 s per write


def test_a_write_is_refused_once_it_is_not_expected_to_be_done_within_the_bound() -> None:
    clock = Clock()
    writes = WriteAdmission(0.45, clock=clock)
    held = [writes.slot() for _ in range(2)]
    for s in held:
        s.__enter__()
    for s in held:  # a batch of two finishing 0.2 s apart: 0.2 s per write
        clock.now += 0.2
        s.__exit__(None, None, None)
    first = writes.slot()
    first.__enter__()  # nothing in flight: admitted
    second = writes.slot()
    second.__enter__()  # one in flight: done after 2 × 0.2 s, within 0.45
    assert writes.expected_wait() == pytest.approx(0.4)
    with pytest.raises(Busy) as refused:
        with writes.slot():  # 3 × 0.2 s: past the bound
            raise AssertionError("a refused write must not run")
    # Retry when the queue should be back within the bound (0.4 + 0.2 - 0.45 s), at least one write.
    assert refused.value.retry_after == pytest.approx(0.2)
    assert writes.expected_wait() == pytest.approx(0.4)  # the refusal took no slot
    clock.now += 0.2
    first.__exit__(None, None, None)
    with writes.slot():  # one in flight again: admitted
        pass


def test_a_write_that_ran_alone_counts_its_own_duration() -> None:
    # A write alone from start to end took 0.3 s of the write path: with one in flight a second
    # would be done after 0.6 s, past a 0.5 s bound (unmeasured, 8 would have been admitted).
    clock = Clock()
    writes = WriteAdmission(0.5, clock=clock)
    with writes.slot():
        clock.now += 0.3
    running = writes.slot()
    running.__enter__()
    assert writes.expected_wait() == pytest.approx(0.3)
    with pytest.raises(Busy) as refused:
        writes.slot().__enter__()
    assert refused.value.retry_after == pytest.approx(0.3)
    running.__exit__(None, None, None)


def test_before_any_measurement_only_a_few_writes_are_admitted_at_once() -> None:
    # A cold start or a first burst: nothing says yet how long a write takes.
    clock = Clock()
    writes = WriteAdmission(1.0, clock=clock)
    held = [writes.slot() for _ in range(UNMEASURED_IN_FLIGHT)]
    for s in held:
        s.__enter__()
    with pytest.raises(Busy) as refused:
        writes.slot().__enter__()
    assert refused.value.retry_after == pytest.approx(1.0)  # the bound: the only time scale known
    for s in held:
        clock.now += 0.01  # fast writes: 10 ms each, measured from the second completion on
        s.__exit__(None, None, None)
    more = [writes.slot() for _ in range(UNMEASURED_IN_FLIGHT + 3)]
    for s in more:
        s.__enter__()  # 4 in flight × 10 ms: far within the bound
    assert writes.expected_wait() == pytest.approx((UNMEASURED_IN_FLIGHT + 3) * 0.01)


def test_a_slow_estimate_recovers_when_writes_no_longer_overlap() -> None:
    # Above half the bound no two writes overlap, so busy intervals stop coming; the lone writes'
    # own durations bring the estimate down once the write path is fast again.
    clock = Clock()
    writes = WriteAdmission(1.0, clock=clock)
    a, b = writes.slot(), writes.slot()
    a.__enter__()
    b.__enter__()
    clock.now += 0.8
    a.__exit__(None, None, None)
    clock.now += 0.8
    b.__exit__(None, None, None)  # 0.8 s per write
    held = writes.slot()
    held.__enter__()
    with pytest.raises(Busy):  # 2 × 0.8 s is past the bound: no second write while one runs
        writes.slot().__enter__()
    held.__exit__(None, None, None)
    for _ in range(64):  # the write path is fast again: 50 ms writes, one at a time
        with writes.slot():
            clock.now += 0.05
    held = writes.slot()
    held.__enter__()
    with writes.slot():  # the window now holds the fast lone writes: admitted again
        pass
    held.__exit__(None, None, None)


def test_a_failed_write_frees_its_slot() -> None:
    writes = WriteAdmission(1.0, clock=Clock())
    with pytest.raises(RuntimeError), writes.slot():
        raise RuntimeError("store down")
    assert writes.expected_wait() == 0.0


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError):
        WriteAdmission(0)


def _a_batch(writes: WriteAdmission, clock: Clock, n: int, apart: float) -> None:
    """n writes admitted together, finishing `apart` seconds after one another."""
    held = [writes.slot() for _ in range(n)]
    for s in held:
        s.__enter__()
    for s in held:
        clock.now += apart
        s.__exit__(None, None, None)


def test_writes_slower_than_their_estimate_make_admission_stricter_until_they_are_not() -> None:
    # The estimate is a mean; when admitted writes keep taking longer than it said, the bound would
    # hold for half of them only. Their shortfall (actual ÷ expected) scales the estimate.
    clock = Clock()
    writes = WriteAdmission(1.0, clock=clock)
    _a_batch(writes, clock, 8, 0.1)  # 7 busy intervals: 0.1 s per write
    for _ in range(SHORTFALL_MIN):  # each expected to take the mean so far, each taking 0.3 s
        with writes.slot():
            clock.now += 0.3
    uncorrected = (7 * 0.1 + SHORTFALL_MIN * 0.3) / (7 + SHORTFALL_MIN)  # about 0.24 s per write
    first = writes.slot()
    first.__enter__()
    # They took 3 down to 1.3 times their estimates; scaled by the 90th percentile of that (over 2),
    # one write in flight means a wait of about 0.5 s.
    assert writes.expected_wait() > 2 * uncorrected
    second = writes.slot()
    second.__enter__()  # 2 × about 0.5 s: still within the bound
    with pytest.raises(Busy):  # uncorrected, 3 × 0.24 s would have been admitted
        writes.slot().__enter__()
    for s in (first, second):
        clock.now += 0.3
        s.__exit__(None, None, None)
    for _ in range(64):  # fast again: no write takes longer than it is expected to
        with writes.slot():
            clock.now += 0.05
    held = writes.slot()
    held.__enter__()
    assert writes.expected_wait() == pytest.approx(0.05)  # the window holds the fast writes only
    held.__exit__(None, None, None)


def test_writes_as_fast_as_their_estimate_change_nothing() -> None:
    clock = Clock()
    writes = WriteAdmission(1.0, clock=clock)
    for _ in range(3 * SHORTFALL_MIN):  # batches of four, 0.1 s per write: each write on time
        _a_batch(writes, clock, 4, 0.1)
    held = writes.slot()
    held.__enter__()
    assert writes.expected_wait() == pytest.approx(0.1)
    held.__exit__(None, None, None)


def test_writes_refused_one_after_another_are_told_to_come_back_one_write_apart() -> None:
    # Told only when the queue drains, every refused client comes back at the same moment and all
    # but one are refused again: the hints keep a line instead, at the write path's pace.
    clock = Clock()
    writes = WriteAdmission(0.45, clock=clock)
    held = [writes.slot() for _ in range(2)]
    for s in held:
        s.__enter__()
    for s in held:  # 0.2 s per write
        clock.now += 0.2
        s.__exit__(None, None, None)
    running = [writes.slot() for _ in range(2)]
    for s in running:
        s.__enter__()  # 2 in flight: a third would be done after 0.6 s, past 0.45
    hints = []
    for _ in range(4):
        with pytest.raises(Busy) as refused:
            writes.slot().__enter__()
        hints.append(refused.value.retry_after)
    assert hints == pytest.approx([0.2, 0.4, 0.6, 0.8])
    clock.now += 0.5  # the first three turns have passed; the fourth is 0.3 s ahead
    with pytest.raises(Busy) as refused:
        writes.slot().__enter__()
    assert refused.value.retry_after == pytest.approx(0.5)  # one write after the fourth's turn
    clock.now += 60.0  # every turn given has passed: the next refusal is first in line again
    with pytest.raises(Busy) as refused:
        writes.slot().__enter__()
    assert refused.value.retry_after == pytest.approx(0.2)
    for s in running:
        s.__exit__(None, None, None)


def test_no_write_is_told_to_come_back_later_than_the_hint_cap() -> None:
    # Clients that retry at once, ignoring the hint, must not push everyone's turn out for ever.
    clock = Clock()
    writes = WriteAdmission(0.45, clock=clock)
    with writes.slot():
        clock.now += 0.3  # alone: 0.3 s per write
    running = writes.slot()
    running.__enter__()
    hints = []
    for _ in range(int(HINT_MAX_S / 0.3) + 20):
        with pytest.raises(Busy) as refused:
            writes.slot().__enter__()
        hints.append(refused.value.retry_after)
    assert max(hints) == pytest.approx(HINT_MAX_S)
    assert hints[-1] == pytest.approx(HINT_MAX_S)
    running.__exit__(None, None, None)
