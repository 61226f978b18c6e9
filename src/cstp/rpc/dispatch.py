"""The JSON-RPC 2.0 pipeline: bytes in, bytes (or None) out.

Order of checks for each request object, following the spec:
parse (-32700) → request shape (-32600) → method lookup (-32601) → params (-32602) → handler
(domain errors mapped by `rpc.errors`; anything else -32603). A notification (no `id` member) never
gets a reply, even when it fails. A batch answers with an array of the non-notification replies, or
nothing when all were notifications; an empty batch is a single -32600.

Every call (each batch member too) logs one INFO line on `cstp.rpc`: the method, the outcome (`ok`
or `error<code>`) and the duration. The log formatter adds the request id and the agent from their
context variables. Params and results are never logged.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Executor, Future
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from cstp.rpc.errors import (
    ErrorTable,
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    RpcError,
    to_rpc_error,
)
from cstp.rpc.table import MethodSpec, MethodTable
from cstp.rpc.unknown_params import attach, ignored
from cstp.rpc.values import BadJson, BadValue, check, decode, encode, exact_id, has_surrogate

logger = logging.getLogger("cstp.rpc")


class _NoId:
    """Marks a notification: the request had no `id` member (distinct from `"id": null`)."""

    def __repr__(self) -> str:
        return "_NO_ID"


_NO_ID: Final = _NoId()

# Called once per request with (method or None, outcome, seconds); the web layer records metrics.
Observer = Callable[[str | None, str, float], None]
_NO_ERRORS: ErrorTable = {}
_LOGGED_NAME = 64  # an unknown method's name is logged, cut to this length


def _reply(req_id: Any, *, result: Any = None, error: RpcError | None = None) -> dict[str, Any]:
    if error is not None:
        return {"jsonrpc": "2.0", "error": error.to_wire(), "id": req_id}
    return {"jsonrpc": "2.0", "result": result, "id": req_id}


def _encode(obj: Any) -> bytes:
    return encode(obj)


def _describe_validation(e: ValidationError) -> InvalidParams:
    errors = []
    for err in e.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in err["loc"] if p != "__root__") or "params"
        # pydantic prefixes a validator's ValueError with "Value error, ": the client needs the text only
        errors.append({"field": field, "message": err["msg"].removeprefix("Value error, ")})
    text = "; ".join(f"{x['field']}: {x['message']}" for x in errors)
    return InvalidParams(f"Invalid params: {text}", {"errors": errors})


def _request_id(obj: dict[str, Any]) -> Any:
    if "id" not in obj:
        return _NO_ID
    rid = obj["id"]
    if rid is None or isinstance(rid, str) or (isinstance(rid, int | float) and not isinstance(rid, bool)):
        if not exact_id(rid):
            # The reply must carry the id the client sent; one that cannot be (a number beyond
            # double precision or range, a string that is not Unicode) makes the request invalid.
            raise InvalidRequest("Invalid Request: id cannot be echoed exactly (use a string or an integer)")
        return rid
    raise InvalidRequest("Invalid Request: id must be a string, a number or null")


def _method(obj: dict[str, Any]) -> str:
    if obj.get("jsonrpc") != "2.0":
        raise InvalidRequest('Invalid Request: "jsonrpc" must be exactly "2.0"')
    method = obj.get("method")
    if not isinstance(method, str) or not method:
        raise InvalidRequest('Invalid Request: "method" must be a non-empty string')
    if has_surrogate(method):
        raise InvalidRequest('Invalid Request: "method" is not valid Unicode')
    return method


def _params(spec: MethodSpec[Any, Any], obj: dict[str, Any]) -> Any:
    params = obj.get("params", {})
    if isinstance(params, list):
        raise InvalidParams(
            "Invalid params: params must be an object (named parameters only)", {"field": "params"}
        )
    if not isinstance(params, dict):
        raise InvalidParams("Invalid params: params must be an object", {"field": "params"})
    try:
        check(params)
    except BadValue as e:
        raise InvalidParams(f"Invalid params: {e}", {"field": e.field}) from None
    try:
        return spec.params.model_validate(params)
    except ValidationError as e:
        raise _describe_validation(e) from None


def _log_call(requested: str | None, outcome: str, seconds: float) -> None:
    logger.info(
        "call",
        extra={
            "method": requested[:_LOGGED_NAME] if requested else None,
            "outcome": outcome,
            "duration_ms": round(seconds * 1000, 3),
        },
    )


def _call_one(
    obj: Any,
    table: MethodTable,
    ctx: Any,
    observe: Observer | None,
    errors: ErrorTable = _NO_ERRORS,
    stopped: threading.Event | None = None,
) -> Any:
    """Handle one request object; returns the reply dict, or _NO_ID for a notification."""
    started = time.perf_counter()
    requested: str | None = None  # what the client asked for, for the log line
    method_name: str | None = None  # a registered method, for the metrics label
    req_id: Any = None
    outcome = "ok"
    try:
        if not isinstance(obj, dict):
            raise InvalidRequest("Invalid Request: expected a JSON object")
        req_id = _request_id(obj)
        requested = _method(obj)
        spec = table.get(requested)
        if spec is None:
            raise MethodNotFound(f"Method not found: {requested}", {"method": requested})
        method_name = requested
        result = spec.handler(_params(spec, obj), ctx)
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json", by_alias=True, exclude_unset=True)
        params = obj.get("params")
        if params:
            result = attach(result, ignored(spec.params, params))
        reply = _reply(req_id, result=result)
    except Exception as exc:  # every failure becomes an error object, never a traceback
        if stopped is not None and stopped.is_set() and not isinstance(exc, RpcError):
            # A call cut by shutdown fails as its dependencies close under it; its client has
            # been answered already (web.middleware), so this is no bug to trace.
            logger.info("call cut by shutdown: %s", type(exc).__name__)
            error: RpcError = InternalError("Server shutting down", {"component": "server"})
        else:
            error = to_rpc_error(exc, errors)
        outcome = f"error{error.code}"
        if isinstance(error, InvalidRequest):
            # Not a valid request, so not a notification either: the spec wants a reply (id null
            # unless the id itself could be read).
            req_id = None if req_id is _NO_ID else req_id
        reply = _reply(None if req_id is _NO_ID else req_id, error=error)
    seconds = time.perf_counter() - started
    if observe is not None:
        observe(method_name, outcome, seconds)
    if logger.isEnabledFor(logging.INFO):
        _log_call(requested, outcome, seconds)
    if req_id is _NO_ID:
        return _NO_ID
    return reply


def _concurrently(
    executor: Executor,
    payload: list[Any],
    table: MethodTable,
    ctx: Any,
    observe: Observer | None,
    errors: ErrorTable,
    stopped: threading.Event,
) -> list[Any]:
    """Each member on the executor, in a copy of the caller's context (request id for the logs).
    A member the executor refuses or cancels (it shuts down at SIGTERM past the deadline) runs on
    this thread instead, so every member still gets its reply, and none runs twice."""
    futures: list[Future[Any] | None] = []
    for item in payload:
        c = contextvars.copy_context()
        try:
            futures.append(executor.submit(c.run, _call_one, item, table, ctx, observe, errors, stopped))
        except RuntimeError:
            futures.append(None)
    replies = []
    for item, future in zip(payload, futures, strict=True):
        try:
            if future is None:
                raise CancelledError
            replies.append(future.result())
        except CancelledError:
            replies.append(_call_one(item, table, ctx, observe, errors, stopped))
    return replies


def _decode(body: bytes) -> Any:
    """The parsed body, or an `_Immediate` reply when it is not JSON."""
    started = time.perf_counter()
    try:
        return decode(body)
    except BadJson as e:
        error = ParseError(f"Parse error: {e}")
    except RecursionError:  # valid JSON nested deeper than the parser's recursion limit
        error = ParseError("Parse error: JSON nested too deeply")
    return _Immediate(_encode(_reply(None, error=error)), error.code, time.perf_counter() - started)


class _Immediate:
    """A reply decided before any method runs (the body is not JSON); logged like a call."""

    __slots__ = ("code", "reply", "seconds")

    def __init__(self, reply: bytes, code: int, seconds: float) -> None:
        self.reply, self.code, self.seconds = reply, code, seconds


class Dispatcher:
    """The pipeline with its configuration: the method table, the error table, the metrics
    observer and the executor that runs batch members concurrently.

    `dispatch(body, ctx)` is the whole pipeline. A transport that wants to avoid a thread hop for
    cheap calls splits it: `decode(body)`, then `inline(payload)` says whether the call in it is
    worth trying where it may not wait (a `MethodSpec` with `blocking=False` or whose `inline_if`
    holds for its params, or an error answered without a handler), then `reply(payload, ctx)`. A
    handler that would wait there stops by raising an exception that is not an `Exception` (the
    transport's contract with its handlers), which leaves `reply` before any metrics or log
    line, so the transport can run the call again elsewhere.

    Thread safety: immutable after construction; `reply` may run on any number of threads at once.
    """

    __slots__ = ("errors", "executor", "observe", "stopped", "table")

    def __init__(
        self,
        table: MethodTable,
        errors: ErrorTable = _NO_ERRORS,
        observe: Observer | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.table = table
        self.errors = errors
        self.observe = observe
        self.executor = executor
        # Set by the composition root when shutdown starts closing the components (`stop`).
        self.stopped = threading.Event()

    def stop(self) -> None:
        """From now on a handler's unexpected failure is a shutdown cut, not a bug (see _call_one)."""
        self.stopped.set()

    def decode(self, body: bytes) -> Any:
        return _decode(body)

    def inline(self, payload: Any) -> bool:
        if not isinstance(payload, dict):
            return isinstance(payload, _Immediate)  # a batch (or a bare value) takes the normal path
        method = payload.get("method")
        spec = self.table.get(method) if isinstance(method, str) else None
        if spec is None or not spec.blocking:
            return True
        return spec.inline_if is not None and spec.inline_if(payload.get("params"))

    def reply(self, payload: Any, ctx: Any = None) -> bytes | None:
        if isinstance(payload, _Immediate):
            if logger.isEnabledFor(logging.INFO):
                _log_call(None, f"error{payload.code}", payload.seconds)
            return payload.reply
        table, observe, errors = self.table, self.observe, self.errors
        if isinstance(payload, list):
            if not payload:
                if logger.isEnabledFor(logging.INFO):
                    _log_call(None, f"error{InvalidRequest.code}", 0.0)
                return _encode(_reply(None, error=InvalidRequest("Invalid Request: empty batch")))
            if self.executor is not None and len(payload) > 1:
                # The spec lets a server process batch members in any order, concurrently; the
                # replies keep request order. Concurrent members share embedding and write batches.
                # Each member runs in a copy of the caller's context (request id for the logs).
                replies = _concurrently(self.executor, payload, table, ctx, observe, errors, self.stopped)
            else:
                replies = [_call_one(item, table, ctx, observe, errors, self.stopped) for item in payload]
            sent = [r for r in replies if r is not _NO_ID]
            return _encode(sent) if sent else None
        reply = _call_one(payload, table, ctx, observe, errors, self.stopped)
        return None if reply is _NO_ID else _encode(reply)

    def dispatch(self, body: bytes, ctx: Any = None) -> bytes | None:
        return self.reply(self.decode(body), ctx)

    def call(self, method: str, params: dict[str, Any], ctx: Any = None) -> dict[str, Any]:
        """One call, already decoded, through the same pipeline as a request object: the reply
        object (`result` or `error`), with the same validation, error mapping, metrics and log line.
        For transports that carry calls in another envelope (MCP tools)."""
        reply: dict[str, Any] = _call_one(
            self.request(method, params), self.table, ctx, self.observe, self.errors
        )
        return reply

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The request object `call` runs; `inline` of it says whether `call` may stay on the loop."""
        return {"jsonrpc": "2.0", "method": method, "params": params, "id": 0}


def dispatch(
    body: bytes,
    table: MethodTable,
    ctx: Any = None,
    observe: Observer | None = None,
    executor: Executor | None = None,
    errors: ErrorTable = _NO_ERRORS,
) -> bytes | None:
    """Process a JSON-RPC request or batch. Returns the encoded reply, or None if nothing to send.

    With an `executor`, the members of a batch run concurrently on it (replies stay in order).
    Exceptions found in `errors` become the error it maps them to; any other is -32603.
    """
    return Dispatcher(table, errors, observe, executor).dispatch(body, ctx)
