"""The tracker's rules: keys, TTLs (on an injected clock), consumption, history and purging."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from cstp.adapters.memory_tracker import MemoryTracker
from cstp.domain.tracker import (
    MAX_INPUTS_PER_RECORD,
    SinkItem,
    Tracker,
    consume_keys,
    deliberation_of,
    scoped_key,
    transport_key,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make(history: int = 50) -> tuple[Tracker, Clock, MemoryTracker]:
    clock, rows = Clock(), MemoryTracker()
    return Tracker(rows, input_ttl=300, session_ttl=1800, history_size=history, clock=clock), clock, rows


def test_keys_follow_the_reference_priority_under_the_caller() -> None:
    assert transport_key("a1") == "rpc:a1"
    assert scoped_key("a1", "sub", "d1") == "agent:sub:decision:d1"
    assert scoped_key("a1", None, "d1") == "decision:d1"
    assert scoped_key("a1", "sub", None) == "agent:sub"
    assert scoped_key("a1", None, None) == "rpc:a1"
    assert consume_keys("a1", "sub", "d1") == ["agent:sub:decision:d1", "decision:d1", "agent:sub", "rpc:a1"]
    assert consume_keys("a1", None, None) == ["rpc:a1"]


def test_an_input_expires_after_the_input_ttl() -> None:
    tracker, clock, _ = make()
    tracker.capture("a1", "rpc:a1", "query", "Queried 'x'", "cstp:queryDecisions")
    clock.advance(299)
    assert len(tracker.take("a1", ["rpc:a1"]).inputs) == 1
    clock.advance(1)
    assert tracker.take("a1", ["rpc:a1"]).inputs == ()


def test_take_reads_only_the_owners_inputs_under_the_given_keys_in_priority_order() -> None:
    tracker, clock, _ = make()
    tracker.capture("a1", "rpc:a1", "query", "transport", "s")
    clock.advance(1)
    tracker.capture("a1", "agent:sub", "reasoning", "scoped", "s")
    tracker.capture("a2", "rpc:a1", "query", "another owner with a look-alike key", "s")
    tracker.capture("a1", "decision:zz", "reasoning", "other key", "s")
    taken = tracker.take("a1", ["agent:sub", "rpc:a1"])
    assert [i.text for i in taken.inputs] == ["scoped", "transport"]


def test_consumed_inputs_are_gone_and_leave_a_history_line_with_the_decision() -> None:
    tracker, _, rows = make()
    tracker.capture("a1", "rpc:a1", "query", "q", "s")
    taken = tracker.take("a1", ["rpc:a1"])
    tracker.consumed(taken, "dec00001")
    assert tracker.take("a1", ["rpc:a1"]).inputs == ()
    [(owner, entry)] = tracker.history("a1")
    assert (owner, entry.key, entry.decision_id, entry.input_count, entry.status) == (
        "a1",
        "rpc:a1",
        "dec00001",
        1,
        "consumed",
    )
    assert tracker.history("a2") == []


def test_history_is_bounded_per_owner() -> None:
    tracker, clock, _ = make(history=3)
    for n in range(5):
        tracker.capture("a1", "rpc:a1", "query", f"q{n}", "s")
        tracker.consumed(tracker.take("a1", ["rpc:a1"]), f"d{n}")
        clock.advance(1)
    assert [e.decision_id for _, e in tracker.history("a1")] == ["d4", "d3", "d2"]


def test_the_purge_trims_history_and_deletes_the_consumed_rows_tombstones() -> None:
    """A consumption writes history and tombstones in one upsert (no delete on the record's path);
    the purge then leaves each owner `history_size` history rows and no tombstone."""
    tracker, clock, rows = make(history=3)
    for owner in ("a1", "a2"):
        for n in range(5):
            tracker.capture(owner, f"rpc:{owner}", "query", f"q{n}", "s")
            tracker.consumed(tracker.take(owner, [f"rpc:{owner}"]), f"{owner}-d{n}")
            clock.advance(1)
    assert len(rows.expired(clock())) == 10  # one tombstone per consumed row, read by nobody
    assert tracker.inputs(None) == []
    tracker.purge()
    assert rows.expired(clock()) == []
    kept = sorted(r.id for r in rows.rows(None, "consumed", clock()))
    assert len(kept) == 6
    assert [e.decision_id for _, e in tracker.history("a2")] == ["a2-d4", "a2-d3", "a2-d2"]
    assert [e.decision_id for _, e in tracker.history("a1")] == ["a1-d4", "a1-d3", "a1-d2"]


def test_purge_deletes_expired_rows_and_notes_keys_that_lapsed_unconsumed() -> None:
    tracker, clock, rows = make()
    tracker.capture("a1", "agent:sub", "reasoning", "forgotten thought", "s")
    clock.advance(301)
    tracker.capture("a1", "rpc:a1", "query", "fresh", "s")
    assert tracker.purge() == 1
    assert [r.key for r in rows.rows(None, "input", clock())] == ["rpc:a1"]
    [(_, entry)] = tracker.history("a1")
    assert (entry.key, entry.status, entry.agent_id, entry.inputs_summary[0]["text"]) == (
        "agent:sub",
        "expired",
        "sub",
        "forgotten thought",
    )
    clock.advance(1800)  # history lines expire after the session TTL ("fresh" lapses meanwhile)
    tracker.purge()
    assert [e.key for _, e in tracker.history("a1")] == ["rpc:a1"]


def test_related_decisions_come_from_query_results_nearest_first_once_each() -> None:
    tracker, _, _ = make()
    top = [{"id": "aaa", "summary": "A", "distance": 0.4}, {"id": "bbb", "summary": "B", "distance": 0.2}]
    tracker.capture("a1", "rpc:a1", "query", "q1", "s", {"top_results": top})
    tracker.capture(
        "a1", "rpc:a1", "query", "q2", "s", {"top_results": [{"id": "aaa", "summary": "A", "distance": 0.1}]}
    )
    tracker.capture("a1", "rpc:a1", "guardrail", "g", "s", {"top_results": [{"id": "ccc", "distance": 0}]})
    related = tracker.take("a1", ["rpc:a1"]).related()
    assert related == [
        {"id": "aaa", "summary": "A", "distance": 0.1},
        {"id": "bbb", "summary": "B", "distance": 0.2},
    ]


def test_captured_inputs_are_appended_to_an_explicit_deliberation_with_steps_renumbered() -> None:
    tracker, clock, _ = make()
    tracker.capture("a1", "rpc:a1", "query", "q", "cstp:queryDecisions")
    clock.advance(2)
    tracker.capture("a1", "rpc:a1", "guardrail", "g", "cstp:checkGuardrails")
    inputs = tracker.take("a1", ["rpc:a1"]).inputs
    explicit = {
        "inputs": [{"id": "mine", "text": "my input"}],
        "steps": [{"step": 1, "thought": "t"}, {"step": 2, "thought": "u"}],
    }
    merged = deliberation_of(inputs, explicit)
    assert [i["id"] for i in merged["inputs"]] == ["mine", inputs[0].id, inputs[1].id]
    assert [s["step"] for s in merged["steps"]] == [1, 2, 3, 4]
    assert [s["type"] for s in merged["steps"][2:]] == ["analysis", "constraint"]
    assert merged["total_duration_ms"] == 2000
    assert explicit["steps"] == [{"step": 1, "thought": "t"}, {"step": 2, "thought": "u"}]  # not mutated


def test_purge_keeps_at_most_the_newest_live_inputs_per_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cstp.domain.tracker.MAX_LIVE_INPUTS", 3)
    tracker, clock, _ = make()
    for n in range(5):
        tracker.capture("a1", "rpc:a1", "query", f"q{n}", "s")
        clock.advance(1)
    tracker.capture("a2", "rpc:a2", "query", "other", "s")
    assert tracker.purge() == 2
    assert [i.text for _, i in tracker.inputs("a1")] == ["q2", "q3", "q4"]
    assert [i.text for _, i in tracker.inputs("a2")] == ["other"]


def test_a_tracker_given_purge_every_purges_from_its_own_calls() -> None:
    clock, rows = Clock(), MemoryTracker()
    tracker = Tracker(rows, input_ttl=300, clock=clock, purge_every=30)
    tracker.capture("a1", "rpc:a1", "query", "old", "s")
    clock.advance(301)
    assert len(rows.expired(clock())) == 1  # expired, not yet deleted
    tracker.capture("a1", "rpc:a1", "query", "new", "s")  # more than 30 s since the last purge
    assert rows.expired(clock()) == []


class PackingSink:
    """Collects items like the write-behind and hands them to the tracker on flush."""

    def __init__(self) -> None:
        self.pending: list[SinkItem] = []
        self.apply: Callable[[Sequence[SinkItem]], None] = lambda items: None

    def put(self, item: SinkItem) -> None:
        self.pending.append(item)

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        self.apply(pending)


def test_packed_batches_are_read_as_their_inputs_and_deleted_when_consumed() -> None:
    clock, rows = Clock(), MemoryTracker()
    sink = PackingSink()
    tracker = Tracker(rows, sink=sink, input_ttl=300, clock=clock)
    sink.apply = tracker.apply
    for n in range(3):
        tracker.capture(
            "a1", "rpc:a1", "query", f"q{n}", "s", {"top_results": [{"id": f"d{n}", "distance": n}]}
        )
        clock.advance(100)
    tracker.capture("a1", "agent:sub", "reasoning", "t", "s")
    tracker.capture("a2", "rpc:a2", "query", "theirs", "s")
    taken = tracker.take("a1", ["agent:sub", "rpc:a1"])
    assert len(rows.rows(None, "input", clock())) == 3  # one row per (owner, key)
    # q0 was captured 300 s ago: expired inside its batch
    assert [i.text for i in taken.inputs] == ["t", "q1", "q2"]
    assert [r["id"] for r in taken.related()] == ["d1", "d2"]
    tracker.consumed(taken, "dec1")
    assert [i.text for _, i in tracker.inputs(None)] == ["theirs"]


def _fields(text: str, hits: int) -> tuple[str, str, str, dict[str, int]]:
    return ("query", f"{text}: {hits} results", "cstp:queryDecisions", {"result_count": hits})


@pytest.mark.parametrize("keep_noted", [False, True], ids=["built-when-written", "built-when-read"])
def test_a_noted_input_is_built_after_the_call_and_keeps_the_time_of_the_call(keep_noted: bool) -> None:
    clock, rows = Clock(), MemoryTracker()
    sink = PackingSink()
    tracker = Tracker(rows, sink=sink, input_ttl=300, clock=clock, keep_noted=keep_noted)
    sink.apply = tracker.apply
    built: list[str] = []

    def fields(text: str, hits: int) -> tuple[str, str, str, dict[str, int]]:
        built.append(text)
        return _fields(text, hits)

    noted_at = clock()
    tracker.note("a1", "rpc:a1", fields, "q", 3)
    assert built == []  # the observed call only left a tuple
    clock.advance(200)  # written much later (e.g. by the write-behind thread)
    [taken] = tracker.take("a1", ["rpc:a1"]).inputs
    assert built == ["q"]
    assert (taken.type, taken.text, taken.source, taken.data) == (
        "query",
        "q: 3 results",
        "cstp:queryDecisions",
        {"result_count": 3},
    )
    assert taken.captured_at == noted_at and taken.key == "rpc:a1" and taken.id.startswith("q-")
    clock.advance(100)  # the TTL runs from the call, not from the write
    assert tracker.take("a1", ["rpc:a1"]).inputs == ()


@pytest.mark.parametrize("keep_noted", [False, True], ids=["built-when-written", "built-when-read"])
def test_inputs_noted_in_one_batch_are_one_row_per_owner_and_key_read_back_one_by_one(
    keep_noted: bool,
) -> None:
    clock, rows = Clock(), MemoryTracker()
    sink = PackingSink()
    tracker = Tracker(rows, sink=sink, input_ttl=300, clock=clock, keep_noted=keep_noted)
    sink.apply = tracker.apply
    for n in range(4):
        tracker.note("a1", "rpc:a1", _fields, f"q{n}", n)
        clock.advance(1)
    tracker.note("a1", "agent:sub", _fields, "scoped", 9)
    tracker.note("a2", "rpc:a2", _fields, "theirs", 1)
    sink.flush()
    assert len(rows.rows(None, "input", clock())) == 3
    taken = tracker.take("a1", ["agent:sub", "rpc:a1"])
    assert [i.text for i in taken.inputs] == ["scoped: 9 results", *(f"q{n}: {n} results" for n in range(4))]
    assert len({i.id for i in taken.inputs}) == 5
    assert {i.id for _, i in tracker.inputs("a1")} == {i.id for i in taken.inputs}  # the same on every read
    assert [i.captured_at for i in taken.inputs[1:]] == sorted(i.captured_at for i in taken.inputs[1:])
    tracker.consumed(taken, "dec1")
    assert [i.text for _, i in tracker.inputs(None)] == ["theirs: 1 results"]


@pytest.mark.parametrize("keep_noted", [False, True], ids=["built-when-written", "built-when-read"])
def test_a_batch_keeps_per_key_only_the_newest_inputs_a_record_can_consume(keep_noted: bool) -> None:
    """A tight loop of checks puts hundreds of inputs under one key in one write-behind batch; a
    record consumes only the newest MAX_INPUTS_PER_RECORD, so only those are stored."""
    clock, rows = Clock(), MemoryTracker()
    sink = PackingSink()
    tracker = Tracker(rows, sink=sink, input_ttl=300, clock=clock, keep_noted=keep_noted)
    sink.apply = tracker.apply
    for n in range(MAX_INPUTS_PER_RECORD + 50):
        tracker.note("a1", "rpc:a1", _fields, f"q{n}", n)
        clock.advance(0.001)
    tracker.note("a2", "rpc:a2", _fields, "theirs", 1)
    sink.flush()
    listed = [i.text for _, i in tracker.inputs("a1")]
    assert listed == [f"q{n}: {n} results" for n in range(50, MAX_INPUTS_PER_RECORD + 50)]
    taken = tracker.take("a1", ["rpc:a1"])
    assert [i.text for i in taken.inputs] == listed  # what a record consumes is all still there
    assert [i.text for _, i in tracker.inputs("a2")] == ["theirs: 1 results"]


def test_a_tracker_that_purges_by_itself_purges_when_only_noted_inputs_arrive() -> None:
    """A loop of checks never records: the memory rows must still expire and be deleted."""
    clock, rows = Clock(), MemoryTracker()
    tracker = Tracker(rows, input_ttl=300, clock=clock, purge_every=30)
    tracker.note("a1", "rpc:a1", _fields, "old", 1)
    clock.advance(301)
    assert len(rows.expired(clock())) == 1
    tracker.note("a1", "rpc:a1", _fields, "new", 1)
    assert rows.expired(clock()) == []
    assert [i.text for _, i in tracker.inputs("a1")] == ["new: 1 results"]


def test_kept_noted_inputs_are_built_only_when_read() -> None:
    clock, rows = Clock(), MemoryTracker()
    tracker = Tracker(rows, input_ttl=300, clock=clock, keep_noted=True)
    built: list[str] = []

    def fields(text: str, hits: int) -> tuple[str, str, str, dict[str, int]]:
        built.append(text)
        return _fields(text, hits)

    tracker.note("a1", "rpc:a1", fields, "q", 1)
    assert len(rows.rows("a1", "input", clock())) == 1
    assert built == []  # stored, not built
    first = [i for _, i in tracker.inputs("a1")]
    second = [i for _, i in tracker.inputs("a1")]
    assert built == ["q", "q"] and first == second
    first[0].data["result_count"] = 99  # a reader's copy: the next read builds afresh
    assert tracker.take("a1", ["rpc:a1"]).inputs[0].data == {"result_count": 1}


@pytest.mark.parametrize("keep_noted", [False, True], ids=["built-when-written", "built-when-read"])
def test_the_live_input_bound_counts_the_inputs_packed_rows_hold(
    monkeypatch: pytest.MonkeyPatch, keep_noted: bool
) -> None:
    monkeypatch.setattr("cstp.domain.tracker.MAX_LIVE_INPUTS", 100)
    clock, rows = Clock(), MemoryTracker()
    sink = PackingSink()
    tracker = Tracker(rows, sink=sink, input_ttl=300, clock=clock, keep_noted=keep_noted)
    sink.apply = tracker.apply
    for batch in range(3):  # three rows of 64 inputs each: 192 live inputs, one agent
        for n in range(64):
            tracker.note("a1", "rpc:a1", _fields, f"b{batch}", n)
        sink.flush()
        clock.advance(1)
    tracker.note("a2", "rpc:a2", _fields, "theirs", 1)
    sink.flush()
    assert len(rows.rows("a1", "input", clock())) == 3
    assert tracker.purge() == 2  # the two oldest rows go whole: 64 inputs are left, not 192
    assert {i.text for _, i in tracker.inputs("a1")} == {f"b2: {n} results" for n in range(64)}
    assert [i.text for _, i in tracker.inputs("a2")] == ["theirs: 1 results"]
