"""Readiness: one probe per component, each answering NOT_READY, OK or ERROR.

`/ready` runs every probe and answers 503 when any says ERROR. NOT_READY means "working, but not
finished starting": the store answers while its background index check still runs, and the server
is ready at once on purpose (see docs/OPERATIONS.md), so NOT_READY is shown but does not fail
readiness. A probe that raises is ERROR with the probe's fixed, secret-free text; the cause goes to
the log only.

`Readiness` runs the probes with one deadline (`READY_DEADLINE`, under the 2 s an orchestrator's
probe usually allows): a dependency that hangs rather than fails (a SIGSTOP'd Chroma waits out the
store's 10 s timeout) makes its probe ERROR at the deadline, and `/ready` 503 within it. A probe
still running from an earlier call is waited on again rather than started twice, so a hung store
holds one thread, not one per probe call.

Nothing here is shown to an unauthenticated caller beyond states and counts: no file path, URL or
error text (those go to the log).

Thread safety: probes hold no state of their own; they call the adapters and services, which are
safe to call from any thread. `Readiness` guards its in-flight table with a lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cstp.domain.decisions import INDEX_STARTING
from cstp.domain.errors import CstpError
from cstp.domain.ports import DecisionStore, Embedder

logger = logging.getLogger("cstp")

State = Literal["NOT_READY", "OK", "ERROR"]
READY_PROBE_TEXT = "readiness probe"


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    state: State
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"status": self.state, **self.detail}


@dataclass(frozen=True, slots=True)
class Probe:
    """One component's check. `check` may block (it runs on a worker thread) and may raise."""

    name: str
    check: Callable[[], ComponentStatus]
    failure: str  # what /ready shows when `check` raises


READY_DEADLINE: Final = 1.5  # seconds for all probes together


def _run(probe: Probe) -> ComponentStatus:
    try:
        return probe.check()
    except Exception as e:  # any failure means not ready; the body stays fixed and secret-free
        if isinstance(e, CstpError):
            logger.warning("readiness: %s failed: %s", probe.name, e)
        else:
            logger.exception("readiness: %s failed unexpectedly", probe.name)
        return ComponentStatus("ERROR", {"error": probe.failure})


def run_probes(probes: Sequence[Probe]) -> dict[str, ComponentStatus]:
    """Every probe in turn, without a deadline (for tools and tests)."""
    return {probe.name: _run(probe) for probe in probes}


class Readiness:
    """The probes, run concurrently with a shared deadline. `close()` at shutdown."""

    def __init__(self, probes: Sequence[Probe], deadline: float = READY_DEADLINE) -> None:
        self._probes = tuple(probes)
        self._deadline = deadline
        self._pool = ThreadPoolExecutor(max(1, len(self._probes)), thread_name_prefix="cstp-ready")
        self._lock = threading.Lock()
        self._running: dict[str, Future[ComponentStatus]] = {}

    def __call__(self) -> dict[str, ComponentStatus]:
        with self._lock:
            for probe in self._probes:
                running = self._running.get(probe.name)
                if running is None or running.done():
                    self._running[probe.name] = self._pool.submit(_run, probe)
            futures = {probe: self._running[probe.name] for probe in self._probes}
        wait(futures.values(), timeout=self._deadline)
        out: dict[str, ComponentStatus] = {}
        for probe, future in futures.items():
            if future.done():
                out[probe.name] = future.result()
            else:
                logger.warning("readiness: %s gave no answer within %g s", probe.name, self._deadline)
                out[probe.name] = ComponentStatus("ERROR", {"error": f"{probe.failure} (no answer in time)"})
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def store_probe(
    store: DecisionStore,
    mode: str,
    index_state: Callable[[], str],
    catalogue_state: Callable[[], str] = lambda: "not loaded",
) -> Probe:
    """Heartbeat and count; NOT_READY while the start-up index check runs. The browse catalogue's
    state is shown but does not gate readiness: until it has loaded, listings are answered by a
    scan (slower, same answers)."""

    def check() -> ComponentStatus:
        store.ping()
        index = index_state()
        state: State = "NOT_READY" if index in INDEX_STARTING else "OK"
        return ComponentStatus(state, {"mode": mode, "index": index, "catalogue": catalogue_state()})

    return Probe("store", check, "decision store unreachable")


def embedder_probe(embedder: Embedder, *, local: bool) -> Probe:
    """Embeds a fixed string with a local model; a remote API is not called (quota and cost)."""

    def check() -> ComponentStatus:
        if local:
            embedder.embed([READY_PROBE_TEXT], "query")
        return ComponentStatus("OK", {"space": embedder.space})

    return Probe("embedder", check, "embedder failed")


_PUBLIC_GUARDRAIL_KEYS = ("loaded", "last_reload", "watching")
_PUBLIC_ERROR_KEYS = ("code", "rule_id", "at")


def guardrails_probe(status: Callable[[], Mapping[str, Any]]) -> Probe:
    """Always OK: a broken reload keeps the last good rules serving and shows as `last_error`
    (its code, rule and time; the file and the message are in the log, not on this open route)."""

    def check() -> ComponentStatus:
        full = status()
        shown: dict[str, Any] = {k: full[k] for k in _PUBLIC_GUARDRAIL_KEYS if k in full}
        error = full.get("last_error")
        shown["last_error"] = {k: error.get(k) for k in _PUBLIC_ERROR_KEYS} if error else None
        return ComponentStatus("OK", shown)

    return Probe("guardrails", check, "guardrails failed")
