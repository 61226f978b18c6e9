"""The breaker state machine, derived from an event log: `fold` and `compact` (pure)."""

from __future__ import annotations

import json
import random

from cstp.domain.breakers.config import BreakerConfig
from cstp.domain.breakers.state import BreakerEvent, compact, fold, probe_event_id

CFG = BreakerConfig("stakes:high", failure_threshold=3, window_ms=10_000, cooldown_ms=5_000)
_n = 0


def ev(kind: str, at: int, **data: object) -> BreakerEvent:
    global _n
    _n += 1
    return BreakerEvent(f"e{_n:04d}", CFG.scope, kind, at, json.dumps(data))  # type: ignore[arg-type]


def probe(at: int, slot: str) -> BreakerEvent:
    """The probe event claiming half-open slot `slot` (`c<opened_at>` after a cooldown)."""
    return BreakerEvent(f"{CFG.scope}|probe|{slot}", CFG.scope, "probe", at, "{}")


def failures(*times: int) -> list[BreakerEvent]:
    return [ev("failure", t) for t in times]


def test_no_events_is_closed() -> None:
    st = fold(CFG, [], 0)
    assert (st.state, st.failures, st.opened_at_ms) == ("closed", (), None)


def test_failures_below_the_threshold_keep_it_closed() -> None:
    st = fold(CFG, failures(1000, 2000), 2500)
    assert st.state == "closed" and len(st.failures) == 2


def test_reaching_the_threshold_inside_the_window_opens_it() -> None:
    st = fold(CFG, failures(1000, 2000, 3000), 3500)
    assert (st.state, st.opened_at_ms, len(st.failures)) == ("open", 3000, 3)
    assert st.cooldown_remaining_ms(CFG, 3500) == 4500


def test_failures_that_left_the_window_do_not_count() -> None:
    st = fold(CFG, failures(0, 1000, 11_500), 11_600)
    assert st.state == "closed" and st.failures == (11_500,)


def test_a_success_clears_the_failures_of_a_closed_breaker() -> None:
    st = fold(CFG, [*failures(1000, 2000), ev("success", 2500), *failures(3000)], 3100)
    assert st.state == "closed" and st.failures == (3000,)


def test_events_fold_in_time_order_whatever_order_they_are_read_in() -> None:
    events = [*failures(1000, 2000), ev("success", 2500), *failures(3000, 3100, 3200)]
    expected = fold(CFG, events, 3300)
    for seed in range(5):
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        assert fold(CFG, shuffled, 3300) == expected
    assert expected.state == "open"


def test_open_turns_half_open_once_the_cooldown_has_passed() -> None:
    events = failures(1000, 2000, 3000)
    assert fold(CFG, events, 7999).state == "open"
    st = fold(CFG, events, 8000)
    assert st.state == "half_open" and not st.probe_in_flight


def test_outcomes_while_open_are_counted_but_change_nothing() -> None:
    st = fold(CFG, [*failures(1000, 2000, 3000), ev("success", 4000), *failures(4500)], 4600)
    assert (st.state, st.opened_at_ms, len(st.failures)) == ("open", 3000, 4)


def test_the_probe_of_the_slot_takes_it() -> None:
    st = fold(CFG, [*failures(1000, 2000, 3000)], 9000)
    assert st.slot == "c3000" and probe_event_id(CFG.scope, st) == f"{CFG.scope}|probe|c3000"
    claimed = fold(CFG, [*failures(1000, 2000, 3000), probe(9000, "c3000")], 9100)
    assert claimed.state == "half_open" and claimed.probe_id == f"{CFG.scope}|probe|c3000"


def test_a_probe_for_another_slot_is_ignored() -> None:
    st = fold(CFG, [*failures(1000, 2000, 3000), probe(9000, "c1"), ev("probe", 9000)], 9100)
    assert st.state == "half_open" and not st.probe_in_flight


def test_a_probe_before_the_cooldown_is_ignored() -> None:
    st = fold(CFG, [*failures(1000, 2000, 3000), probe(4000, "c3000")], 8500)
    assert st.state == "half_open" and not st.probe_in_flight


def test_a_successful_probe_closes_the_breaker() -> None:
    st = fold(CFG, [*failures(1000, 2000, 3000), probe(9000, "c3000"), ev("success", 9500)], 9600)
    assert (st.state, st.failures, st.opened_at_ms) == ("closed", (), None)


def test_a_failed_probe_reopens_it_for_another_cooldown() -> None:
    st = fold(CFG, [*failures(1000, 2000, 3000), probe(9000, "c3000"), ev("failure", 9500)], 9600)
    assert (st.state, st.opened_at_ms) == ("open", 9500)
    assert fold(
        CFG, [*failures(1000, 2000, 3000), probe(9000, "c3000"), ev("failure", 9500)], 14_500
    ).state == ("half_open")


def test_a_probe_whose_outcome_never_came_frees_the_slot_after_a_cooldown() -> None:
    events = [*failures(1000, 2000, 3000), probe(9000, "c3000")]
    assert fold(CFG, events, 13_999).probe_in_flight
    freed = fold(CFG, events, 14_000)
    assert not freed.probe_in_flight and freed.slot == "l9000"  # a new slot: a new probe id


def test_a_reset_with_probe_first_opens_its_own_slot() -> None:
    reset = ev("reset", 4000, probe_first=True)
    st = fold(CFG, [*failures(1000, 2000, 3000), reset, probe(4000, "r4000")], 4100)
    assert st.probe_in_flight  # same millisecond as the reset: the probe still follows it


def test_reset_closes_an_open_breaker() -> None:
    st = fold(CFG, [*failures(1000, 2000, 3000), ev("reset", 4000, probe_first=False)], 4100)
    assert (st.state, st.failures) == ("closed", ())


def test_reset_with_probe_first_goes_half_open() -> None:
    st = fold(CFG, [*failures(1000, 2000, 3000), ev("reset", 4000, probe_first=True)], 4100)
    assert st.state == "half_open" and not st.probe_in_flight


def test_a_reset_that_finds_the_breaker_not_open_changes_nothing() -> None:
    st = fold(CFG, [*failures(1000), ev("reset", 1500, probe_first=False), *failures(2000, 3000)], 3100)
    assert st.state == "open"


def test_compaction_keeps_the_state_and_drops_the_old_events() -> None:
    rng = random.Random(7)
    kinds = ["failure"] * 6 + ["success", "probe"]
    events = []
    for t in range(0, 200_000, 1_700):
        kind = rng.choice(kinds)
        if kind == "probe":  # claim whatever slot is current, as a checking process would
            events.append(probe(t, fold(CFG, events, t).slot or "none"))
        else:
            events.append(ev(kind, t))
    now = 200_000
    plan = compact(CFG, events, cutoff_ms=now - 60_000, keep=8)
    assert plan is not None
    kept = [e for e in events if e.id not in set(plan.obsolete)]
    assert all(e.at_ms >= now - 60_000 for e in kept)
    assert fold(CFG, [*kept, plan.snapshot], now) == fold(CFG, events, now)
    # compacting again folds the snapshot in too, and still agrees
    again = compact(CFG, [*kept, plan.snapshot], cutoff_ms=now - 1_000, keep=2)
    assert again is not None
    rest = [e for e in [*kept, plan.snapshot] if e.id not in set(again.obsolete)]
    assert fold(CFG, [*rest, again.snapshot], now) == fold(CFG, events, now)


def test_compaction_waits_until_there_are_enough_old_events() -> None:
    assert compact(CFG, failures(1, 2, 3), cutoff_ms=10, keep=3) is None


def test_two_processes_compacting_at_once_write_the_same_snapshot() -> None:
    events = failures(*range(0, 50_000, 1000))
    a = compact(CFG, events, cutoff_ms=40_000, keep=5)
    b = compact(CFG, list(reversed(events)), cutoff_ms=40_000, keep=5)
    assert a == b
