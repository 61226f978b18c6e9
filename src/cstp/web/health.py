"""Readiness: one probe per component, each answering NOT_READY, OK or ERROR.

`/ready` runs every probe and answers 503 when any says ERROR. NOT_READY means "working, but not
finished starting": the store answers while its background index check still runs, and the server
is ready at once on purpose (see docs/OPERATIONS.md), so NOT_READY is shown but does not fail
readiness. A probe that raises is ERROR with the probe's fixed, secret-free text; the cause goes to
the log only.

Thread safety: probes hold no state of their own; they call the adapters and services, which are
safe to call from any thread. `/ready` runs them on a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

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


def run_probes(probes: Sequence[Probe]) -> dict[str, ComponentStatus]:
    out: dict[str, ComponentStatus] = {}
    for probe in probes:
        try:
            out[probe.name] = probe.check()
        except Exception as e:  # any failure means not ready; the body stays fixed and secret-free
            if isinstance(e, CstpError):
                logger.warning("readiness: %s failed: %s", probe.name, e)
            else:
                logger.exception("readiness: %s failed unexpectedly", probe.name)
            out[probe.name] = ComponentStatus("ERROR", {"error": probe.failure})
    return out


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


def guardrails_probe(status: Callable[[], Mapping[str, Any]]) -> Probe:
    """Always OK: a broken reload keeps the last good rules serving and shows as `last_error`."""
    return Probe("guardrails", lambda: ComponentStatus("OK", status()), "guardrails failed")
