"""What the routes use, and nothing else: built by the composition root, read by `web.routes`.

The web layer never reaches into the services or adapters: it authenticates, hands the body to
`dispatch`, asks `readiness`, and serves two pre-encoded cards and the metrics registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from prometheus_client import CollectorRegistry

from cstp.domain.waiting import WouldWait, answering_inline
from cstp.rpc import Dispatcher
from cstp.web.agent_card import Card
from cstp.web.drain import Drain
from cstp.web.health import ComponentStatus

# body, authenticated agent → encoded reply (None: nothing to send)
Dispatch = Callable[[bytes, str], Awaitable[bytes | None]]
# Bodies up to this size are parsed on the event loop to decide whether the call can stay there.
_INLINE_DECODE_BYTES = 16_384


@dataclass(frozen=True, slots=True)
class WebState:
    """Thread safety: frozen; every member is itself safe to call from any request."""

    authenticate: Callable[[str | None], str]  # Authorization header → agent id, or Unauthorized
    dispatch: Dispatch
    readiness: Callable[[], Mapping[str, ComponentStatus]]  # blocking: routes run it on a thread
    cstp_card: Card
    a2a_card: Card
    registry: CollectorRegistry
    max_body_bytes: int
    version: str
    started: float  # time.monotonic() at build, for /health's uptime
    # Requests to `bulk_methods` may be up to `bulk_body_bytes` (CSTP_IMPORT_MAX_BODY_BYTES).
    bulk_body_bytes: int = 0
    bulk_methods: frozenset[str] = frozenset()
    # Set on SIGTERM (web.drain): /ready answers 503 so a load balancer stops routing here.
    drain: Drain = field(default_factory=Drain)


def dispatch_on(dispatcher: Dispatcher, context: Callable[[str], object]) -> Dispatch:
    """`Dispatch` running `dispatcher` with the handler context `context(agent)`.

    Handlers may block on the store or the embedder, so calls run on a worker thread; a call the
    method table offers for the event loop (`blocking=False`, or `inline_if` its params: one
    that usually answers from memory), or one answered with an error before any handler runs, is
    tried there first, which saves the thread hop (see docs/PERFORMANCE.md). Where it would wait
    on I/O after all, it raises `WouldWait` before waiting (`domain.waiting`) and runs again on a
    worker thread.
    """

    # abandon_on_cancel: a request cut at the shutdown deadline is answered at once (web.middleware)
    # instead of its task waiting for the handler's thread, which would hold the exit past it.
    async def dispatch(body: bytes, agent: str) -> bytes | None:
        ctx = context(agent)
        if len(body) > _INLINE_DECODE_BYTES:
            return await anyio.to_thread.run_sync(dispatcher.dispatch, body, ctx, abandon_on_cancel=True)
        payload = dispatcher.decode(body)
        if dispatcher.inline(payload):
            try:
                with answering_inline():
                    return dispatcher.reply(payload, ctx)
            except WouldWait:
                pass  # it must wait on I/O: from the start, on a worker thread
        return await anyio.to_thread.run_sync(dispatcher.reply, payload, ctx, abandon_on_cancel=True)

    return dispatch


# method, params, authenticated agent → the JSON-RPC reply object (`result` or `error`)
Call = Callable[[str, dict[str, Any], str], Awaitable[dict[str, Any]]]


def call_on(dispatcher: Dispatcher, context: Callable[[str], object]) -> Call:
    """`Call` running one method through `dispatcher` with the handler context `context(agent)`,
    on the event loop or a worker thread as `dispatch_on` decides: the same pipeline (validation,
    error texts, metrics, log line) and the same handler as the method's `POST /cstp` twin."""

    async def call(method: str, params: dict[str, Any], agent: str) -> dict[str, Any]:
        ctx = context(agent)
        if dispatcher.inline(dispatcher.request(method, params)):
            try:
                with answering_inline():
                    return dispatcher.call(method, params, ctx)
            except WouldWait:
                pass  # as in `dispatch_on`
        return await anyio.to_thread.run_sync(dispatcher.call, method, params, ctx)

    return call
