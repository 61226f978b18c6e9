"""A breaker's state, derived from its event log: `fold(config, events, now) -> BreakerState`.

Breaker state is shared by every server process, so it is never read, modified and written back
(two processes doing that at once would lose an update). Each process only appends events
(failure, success, reset, probe; ids unique or deterministic) and everyone derives the state by
folding the same events in the same order, `(at_ms, snapshot-last, id)`. Pure: no clock, no I/O.

The state machine (the reference's, plus a lost-probe timeout):
- CLOSED: a failure is kept; when the failures inside the last `window_ms` reach the threshold
  the breaker OPENs. A success clears the failures.
- OPEN: blocks. Once `cooldown_ms` has passed since it opened it is HALF_OPEN (lazily: the fold
  applies it at the time of the next event, or at `now`). Outcomes are kept for the count only.
- HALF_OPEN: a `probe` event claims the one action let through; later actions are blocked.
  Each half-open period has one slot with a deterministic probe id (`probe_event_id`), and the
  store inserts it only if absent, so when two processes race for the probe the first write
  wins and both can tell who won from what was stored. The next outcome decides:
  success → CLOSED (failures cleared), failure → OPEN again.
  A probe whose outcome has not arrived within `cooldown_ms` counts as lost, and another probe
  may be claimed (in the reference a lost probe kept the breaker blocked forever).
- reset (`cstp.resetCircuit`): OPEN → CLOSED, or OPEN → HALF_OPEN with `probe_first`; a reset
  event that finds the breaker not OPEN (a race with another process) changes nothing.

Old events are folded into a `snapshot` event (the state at that point) and deleted, so each
scope's log stays bounded; see `compact`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from cstp.domain.breakers.config import BreakerConfig

State = Literal["closed", "open", "half_open"]
Kind = Literal["failure", "success", "reset", "probe", "snapshot"]
MAX_KEPT_FAILURES = 1000  # failure times a state keeps (the count shown is capped there)
_ORDER = {"probe": 1, "snapshot": 2}


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """One appended fact about a breaker. `data` is kind-specific (JSON text in the store):
    reset → `{"probe_first": bool}`; snapshot → the state; failure/success → `{"decision": id}`."""

    id: str
    scope: str
    kind: Kind
    at_ms: int
    data: str = "{}"

    def sort_key(self) -> tuple[int, int, str]:
        # Within one millisecond a probe follows the outcome or reset it reacts to, and a snapshot
        # follows everything (it includes them).
        return (self.at_ms, _ORDER.get(self.kind, 0), self.id)


@dataclass(frozen=True, slots=True)
class BreakerState:
    """The derived state of one breaker at some time."""

    state: State = "closed"
    failures: tuple[int, ...] = ()  # failure times (ms) inside the window, oldest first
    opened_at_ms: int | None = None
    probe_at_ms: int | None = None
    probe_id: str | None = None  # the probe event that holds the half-open slot
    slot: str | None = None  # names the current half-open period's probe slot

    @property
    def probe_in_flight(self) -> bool:
        return self.probe_id is not None

    def cooldown_remaining_ms(self, config: BreakerConfig, now_ms: int) -> int | None:
        """Milliseconds until an OPEN breaker turns HALF_OPEN; None unless OPEN."""
        if self.state != "open" or self.opened_at_ms is None:
            return None
        return max(0, self.opened_at_ms + config.cooldown_ms - now_ms)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> BreakerState:
        raw = json.loads(text)
        state = raw.get("state")
        if state not in ("closed", "open", "half_open"):
            state = "closed"
        return cls(
            state=state,
            failures=tuple(int(t) for t in raw.get("failures", ())),
            opened_at_ms=_int_or_none(raw.get("opened_at_ms")),
            probe_at_ms=_int_or_none(raw.get("probe_at_ms")),
            probe_id=raw.get("probe_id"),
            slot=raw.get("slot"),
        )


def advance(config: BreakerConfig, st: BreakerState, now_ms: int) -> BreakerState:
    """`st` as time passes to `now_ms`: failures leave the window, OPEN cools down to HALF_OPEN,
    a lost probe frees the half-open slot."""
    horizon = now_ms - config.window_ms
    if st.failures and st.failures[0] < horizon:
        st = dataclasses.replace(st, failures=tuple(t for t in st.failures if t >= horizon))
    if st.state == "open" and st.opened_at_ms is not None and now_ms >= st.opened_at_ms + config.cooldown_ms:
        slot = f"c{st.opened_at_ms}"
        st = dataclasses.replace(st, state="half_open", probe_at_ms=None, probe_id=None, slot=slot)
    if (
        st.state == "half_open"
        and st.probe_at_ms is not None
        and now_ms >= st.probe_at_ms + config.cooldown_ms
    ):
        slot = f"l{st.probe_at_ms}"
        st = dataclasses.replace(st, probe_at_ms=None, probe_id=None, slot=slot)
    return st


def probe_event_id(scope: str, st: BreakerState) -> str:
    """The id of the probe event that claims `st`'s half-open slot (one per half-open period)."""
    return f"{scope}|probe|{st.slot}"


def apply(config: BreakerConfig, st: BreakerState, event: BreakerEvent) -> BreakerState:
    """`st` (already advanced to the event's time) after `event`."""
    at = event.at_ms
    match event.kind:
        case "failure":
            failures = (*st.failures, at)[-MAX_KEPT_FAILURES:]
            if st.state == "closed":
                if len(failures) >= config.failure_threshold:
                    return BreakerState("open", failures, opened_at_ms=at)
                return dataclasses.replace(st, failures=failures)
            if st.state == "half_open":
                return BreakerState("open", failures, opened_at_ms=at)
            return dataclasses.replace(st, failures=failures)  # open: counted, nothing changes
        case "success":
            if st.state == "closed":
                return dataclasses.replace(st, failures=())
            if st.state == "half_open":
                return BreakerState()
            return st
        case "reset":
            if st.state != "open":
                return st
            if json.loads(event.data).get("probe_first"):
                slot = f"r{at}"
                return dataclasses.replace(st, state="half_open", probe_at_ms=None, probe_id=None, slot=slot)
            return BreakerState()
        case "probe":
            free = st.state == "half_open" and st.probe_id is None
            if free and event.id == probe_event_id(config.scope, st):
                return dataclasses.replace(st, probe_at_ms=at, probe_id=event.id)
            return st
        case "snapshot":
            return BreakerState.from_json(event.data)
    return st


def fold(config: BreakerConfig, events: Iterable[BreakerEvent], now_ms: int | None = None) -> BreakerState:
    """The state after `events` (any order; the latest snapshot and what follows it count),
    advanced to `now_ms` when given."""
    ordered = sorted(events, key=BreakerEvent.sort_key)
    start = 0
    for i in range(len(ordered) - 1, -1, -1):
        if ordered[i].kind == "snapshot":
            start = i
            break
    st = BreakerState()
    for event in ordered[start:]:
        st = apply(config, advance(config, st, event.at_ms), event)
    return advance(config, st, now_ms) if now_ms is not None else st


@dataclass(frozen=True, slots=True)
class Compaction:
    """What `compact` decided: the snapshot to write and the ids it replaces."""

    snapshot: BreakerEvent
    obsolete: tuple[str, ...]


def compact(
    config: BreakerConfig, events: Sequence[BreakerEvent], cutoff_ms: int, keep: int
) -> Compaction | None:
    """Fold the events older than `cutoff_ms` into one snapshot once there are more than `keep`.

    Events newer than `cutoff_ms` are never folded: a process may still be appending an event
    stamped a little earlier than one already stored, and a snapshot must not overtake it. The
    snapshot's id is derived from what it replaces, so processes compacting at the same moment
    write the same item."""
    ordered = sorted(events, key=BreakerEvent.sort_key)
    old = [e for e in ordered if e.at_ms < cutoff_ms]
    if len(old) <= keep:
        return None
    last = old[-1]
    st = fold(config, old)
    snapshot = BreakerEvent(
        id=f"{config.scope}|snapshot|{last.at_ms}|{last.id}",
        scope=config.scope,
        kind="snapshot",
        at_ms=last.at_ms,
        data=st.to_json(),
    )
    return Compaction(snapshot, tuple(e.id for e in old if e.id != snapshot.id))


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
