"""`CircuitBreakers`: the configured breakers, their shared state, and the gate checks pass through.

Where things come from:
- the configuration is the current guardrail `RuleSet`'s `breakers` (read through `configs()` at
  every call, so a guardrail reload updates them);
- the state is folded from the `BreakerStore` event log every process shares (`state.py`);
- failures and successes come from reviews (`record_outcome`, called by the decision service
  after `cstp.reviewDecision` stored the outcome): `failure` and `abandoned` are failures,
  `success` and `partial` successes, counted in every breaker whose scope covers the decision.

The view cache: checks must stay cheap, and `cstp.checkGuardrails` is answered on the event
loop, so a check reads the log through a view (every configured scope's events, read in one
call) refreshed by `refresh()`, which the server's poller thread (`cstp.runtime.breaker_poller`)
calls every `refresh_ms`. A check refreshes the view itself only when it is older than
`max_age_ms` (the poller stalled, or there is none) or lacks a scope (a reload added it). So:
- with no breaker configured, or none whose scope covers the action, a check costs no I/O;
- a process sees its own writes at once (every write refreshes the scopes it touched);
- a breaker opened on another process blocks here within `refresh_ms` plus one store read
  (normally ≤ ~1 s), and never later than `max_age_ms` while the store answers. Outcomes arrive
  through reviews, minutes to days after the action, so one second of lag does not let a burst
  of actions through a breaker that was about to open: it was not open yet either way.
The exception is the half-open probe: which process's action is the one probe is decided by the
store (append a probe event, read the scope back, the earliest probe wins), one round-trip on the
rare check that finds a breaker half-open with its slot free.

If the store fails, checks keep the last view (fail open, logged); a probe that cannot be
claimed blocks, since the breaker is still suspect.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from cstp.domain.breakers.config import BreakerConfig, Subject
from cstp.domain.breakers.state import (
    BreakerEvent,
    BreakerState,
    Kind,
    advance,
    compact,
    fold,
    probe_event_id,
)
from cstp.domain.errors import InvalidInput, StoreUnavailable
from cstp.domain.ports import BreakerStore

AUDIT_LOGGER = "cstp.breakers.audit"
FAILURES = frozenset({"failure", "abandoned"})
SUCCESSES = frozenset({"success", "partial"})
COMPACT_GRACE_MS = 60_000  # events younger than this are never folded into a snapshot
COMPACT_KEEP = 32  # older events kept per scope before they are folded


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """One breaker as the methods report it."""

    config: BreakerConfig
    state: BreakerState
    now_ms: int

    @property
    def cooldown_remaining_ms(self) -> int | None:
        return self.state.cooldown_remaining_ms(self.config, self.now_ms)


@dataclass(frozen=True, slots=True)
class Block:
    """A breaker blocking a checked action."""

    config: BreakerConfig
    state: BreakerState
    message: str
    reset_at_ms: int | None  # when an OPEN breaker will let a probe through


@dataclass(frozen=True, slots=True)
class _View:
    events: Mapping[str, tuple[BreakerEvent, ...]]  # scope → its events
    read_at: float  # monotonic seconds
    # scope → (config, its events folded under that config, not yet advanced to any "now"): the
    # per-check cost is then `advance`, not a sort of the scope's log. Filled lazily; two threads
    # filling one entry at once compute the same value.
    folded: dict[str, tuple[BreakerConfig, BreakerState]] = dataclasses.field(default_factory=dict)

    def state(self, config: BreakerConfig, now_ms: int) -> BreakerState:
        """`config`'s breaker at `now_ms` (same as `fold(config, events, now_ms)`)."""
        cached = self.folded.get(config.scope)
        if cached is None or cached[0] != config:
            cached = (config, fold(config, self.events.get(config.scope, ())))
            self.folded[config.scope] = cached
        return advance(config, cached[1], now_ms)


class CircuitBreakers:
    """Thread safety: the view is one immutable `_View`, replaced whole; `_refresh_lock` keeps
    concurrent refreshes from reading the store twice for nothing; the store is thread-safe."""

    def __init__(
        self,
        store: BreakerStore,
        configs: Callable[[], Sequence[BreakerConfig]],
        *,
        clock: Callable[[], float] = time.time,
        max_age_ms: int = 3_000,
    ) -> None:
        """`clock` is wall-clock epoch seconds (shared meaning across processes and restarts)."""
        self._store = store
        self._configs = configs
        self._clock = clock
        self._max_age = max_age_ms / 1000
        self._view = _View({}, float("-inf"))
        self._refresh_lock = threading.Lock()
        self._log = logging.getLogger("cstp.breakers")
        self._audit = logging.getLogger(AUDIT_LOGGER)

    # --- reads ---------------------------------------------------------------------------------
    def configured(self) -> tuple[BreakerConfig, ...]:
        return tuple(self._configs())

    def statuses(self) -> list[BreakerStatus]:
        """Every configured breaker, by scope."""
        configs = sorted(self.configured(), key=lambda c: c.scope)
        view = self._fresh_view([c.scope for c in configs])
        now = self._now_ms()
        return [BreakerStatus(c, view.state(c, now), now) for c in configs]

    def status(self, scope: str) -> BreakerStatus | None:
        """The breaker configured for exactly `scope`, or None."""
        config = self._config(scope)
        if config is None:
            return None
        view = self._fresh_view([scope])
        now = self._now_ms()
        return BreakerStatus(config, view.state(config, now), now)

    # --- the gate ------------------------------------------------------------------------------
    def gate(self, subject: Subject, *, allowed: bool) -> list[Block]:
        """The breakers blocking an action on `subject`. `allowed` says whether the rules let it
        through: only then may a half-open breaker spend its one probe on it."""
        matching = [c for c in self._configs() if c.matches(subject)]
        if not matching:
            return []
        try:
            view = self._fresh_view([c.scope for c in matching])
        except StoreUnavailable:
            self._log.warning("breaker state unreadable; checking against the last view", exc_info=True)
            view = self._view
        now = self._now_ms()
        blocks: list[Block] = []
        probes: list[tuple[BreakerConfig, BreakerState]] = []
        for config in matching:
            st = view.state(config, now)
            if st.state == "open":
                blocks.append(self._block(config, st))
            elif st.state == "half_open":
                if st.probe_in_flight:
                    blocks.append(self._block(config, st))
                else:
                    probes.append((config, st))
        if allowed and not blocks:
            for config, st in probes:
                if not self._claim_probe(config, st):
                    blocks.append(self._block(config, st))  # another action holds the slot
        return blocks

    # --- writes --------------------------------------------------------------------------------
    def record_outcome(self, subject: Subject, outcome: str, decision_id: str) -> None:
        """Count a reviewed outcome in every breaker whose scope covers the decision. One event
        per (scope, decision): reviewing the same decision again replaces its earlier outcome."""
        if outcome in FAILURES:
            kind: Kind = "failure"
        elif outcome in SUCCESSES:
            kind = "success"
        else:
            return
        matching = [c for c in self._configs() if c.matches(subject)]
        if not matching:
            return
        now = self._now_ms()
        data = json.dumps({"decision": decision_id})
        events = [
            BreakerEvent(f"{c.scope}|outcome|{decision_id}", c.scope, kind, now, data) for c in matching
        ]
        self._append_and_report(matching, events)

    def reset(self, scope: str, *, probe_first: bool = False) -> tuple[BreakerStatus, BreakerStatus]:
        """resetCircuit: OPEN → CLOSED (or HALF_OPEN). Raises InvalidInput for an unknown scope or
        a breaker that is not OPEN. Returns the states before and after."""
        config = self._config(scope)
        if config is None:
            raise InvalidInput(f"No breaker found for scope: {scope}", "scope")
        before = self._status_now(config, self._refresh([scope]))
        if before.state.state != "open":
            raise InvalidInput(f"Can only reset OPEN breakers, current state: {before.state.state}", "scope")
        data = json.dumps({"probe_first": probe_first})
        event = BreakerEvent(self._new_id(scope, "reset"), scope, "reset", self._now_ms(), data)
        self._append_and_report([config], [event], reason="manual_reset")
        return before, self._status_now(config, self._view)

    # --- refresh -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read every configured scope's events (the poller's call) and compact long logs."""
        configs = self.configured()
        if not configs:
            self._view = _View({}, time.monotonic())
            return
        view = self._refresh([c.scope for c in configs])
        self._compact(configs, view)

    def _refresh(self, scopes: Collection[str]) -> _View:
        """Read `scopes` from the store into the view (other configured scopes kept as they were)."""
        with self._refresh_lock:
            started = time.monotonic()
            read: dict[str, list[BreakerEvent]] = {s: [] for s in scopes}
            for e in self._store.events(scopes):
                if e.scope in read:
                    read[e.scope].append(e)
            known = {c.scope for c in self._configs()} | set(read)
            merged = {s: es for s, es in self._view.events.items() if s in known}
            merged.update((s, tuple(es)) for s, es in read.items())
            # A partial read keeps the older read time, so the rest of the view still ages out.
            read_at = started if known <= set(read) else min(started, self._view.read_at)
            self._view = _View(merged, read_at)
            return self._view

    def _fresh_view(self, scopes: Sequence[str]) -> _View:
        view = self._view
        missing = [s for s in scopes if s not in view.events]
        if time.monotonic() - view.read_at > self._max_age:
            return self._refresh([c.scope for c in self._configs()])
        if missing:
            return self._refresh(missing)
        return view

    def _compact(self, configs: Sequence[BreakerConfig], view: _View) -> None:
        cutoff = self._now_ms() - COMPACT_GRACE_MS
        for config in configs:
            plan = compact(config, view.events.get(config.scope, ()), cutoff, COMPACT_KEEP)
            if plan is None:
                continue
            self._store.append([plan.snapshot])
            self._store.delete(plan.obsolete)
            self._log.debug("breaker %s: %d events folded into a snapshot", config.scope, len(plan.obsolete))

    # --- helpers -------------------------------------------------------------------------------
    def _claim_probe(self, config: BreakerConfig, st: BreakerState) -> bool:
        """Insert the probe event of `st`'s half-open slot; the probe is ours if ours was stored."""
        token = json.dumps({"token": uuid.uuid4().hex})
        event = BreakerEvent(probe_event_id(config.scope, st), config.scope, "probe", self._now_ms(), token)
        try:
            won = self._store.insert_if_absent(event).data == token
            view = self._refresh([config.scope])
        except StoreUnavailable:
            self._log.warning("breaker %s: probe not claimed, store unavailable", config.scope, exc_info=True)
            return False
        if won:
            self._transition(
                config, "probe_allowed", fold(config, view.events.get(config.scope, ()), event.at_ms)
            )
        return won

    def _append_and_report(
        self, configs: Sequence[BreakerConfig], events: Sequence[BreakerEvent], reason: str | None = None
    ) -> None:
        scopes = [c.scope for c in configs]
        before = self._view
        self._store.append(events)
        view = self._refresh(scopes)
        now = self._now_ms()
        for config in configs:
            old = before.state(config, now).state
            new = view.state(config, now)
            if reason is not None or old != new.state:
                self._transition(config, reason or f"{old}_to_{new.state}", new)

    def _transition(self, config: BreakerConfig, event: str, st: BreakerState) -> None:
        self._log.info("circuit breaker %s: %s (now %s)", config.scope, event, st.state)
        if config.notify:
            self._audit.info(
                json.dumps(
                    {
                        "event": f"circuit_breaker.{event}",
                        "scope": config.scope,
                        "state": st.state,
                        "failure_count": len(st.failures),
                        "threshold": config.failure_threshold,
                    }
                )
            )

    def _block(self, config: BreakerConfig, st: BreakerState) -> Block:
        if st.state == "open":
            message = (
                f"Circuit breaker OPEN for {config.scope}: "
                f"{len(st.failures)}/{config.failure_threshold} failures in window"
            )
            reset_at = None if st.opened_at_ms is None else st.opened_at_ms + config.cooldown_ms
        else:
            message = (
                f"Circuit breaker HALF_OPEN for {config.scope}: probe in flight, additional requests blocked"
            )
            reset_at = None
        return Block(config, st, message, reset_at)

    def _status_now(self, config: BreakerConfig, view: _View) -> BreakerStatus:
        now = self._now_ms()
        return BreakerStatus(config, view.state(config, now), now)

    def _config(self, scope: str) -> BreakerConfig | None:
        return next((c for c in self._configs() if c.scope == scope), None)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    @staticmethod
    def _new_id(scope: str, kind: str) -> str:
        return f"{scope}|{kind}|{uuid.uuid4().hex}"
