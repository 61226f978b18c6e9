"""Deliberation capture in the method-handler path.

`with_capture(table)` wraps the handlers of the observed methods (queryDecisions, checkGuardrails,
getDecision, getReasonStats) so that each successful call files a tracked input under the caller's
transport key, and wraps recordDecision so that it consumes the caller's inputs. Capture lives
here, around the handlers every transport reaches through the Dispatcher, driven only by
`CallContext`, so JSON-RPC and MCP calls of one agent meet under one key scheme.

Capture is best effort: it never changes the observed call's result, and a failure to capture is
logged, never raised. Writing is the tracker sink's job (a write-behind queue in the server), so
the observed call does not wait for the store.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import PrivateAttr

from cstp.domain.errors import CstpError
from cstp.domain.records import DecisionDraft
from cstp.domain.tracker import (
    Fields,
    Taken,
    TrackedInput,
    Tracker,
    consume_keys,
    deliberation_of,
    transport_key,
)
from cstp.methods import decisions
from cstp.methods.context import CallContext, on_pool, write_slot
from cstp.methods.decisions import RecordParams, RecordResult
from cstp.methods.wire import alias
from cstp.rpc.table import MethodSpec

logger = logging.getLogger("cstp.tracker")

TOP_RESULTS = 5


def query_fields(query: str, mode: str, count: int, top: Sequence[tuple[str, str, float]]) -> Fields:
    """What a query's input holds: `top` are its nearest hits (id, title, distance), `count` all
    of them."""
    return (
        "query",
        f"Queried '{query[:50]}': {count} results ({mode})",
        "cstp:queryDecisions",
        {
            "query": query,
            "result_count": count,
            "retrieval_mode": mode,
            "top_results": [
                {"id": i, "summary": title[:80], "distance": distance} for i, title, distance in top
            ],
        },
    )


def guardrail_fields(description: str, allowed: bool, violations: int) -> Fields:
    status = "allowed" if allowed else f"blocked ({violations} violations)"
    return (
        "guardrail",
        f"Checked '{description[:50]}': {status}",
        "cstp:checkGuardrails",
        {"description": description, "allowed": allowed, "violation_count": violations},
    )


def lookup_fields(decision_id: str, title: str) -> Fields:
    return (
        "lookup",
        f"Retrieved decision {decision_id}: {title[:50]}",
        "cstp:getDecision",
        {"decision_id": decision_id, "title": title[:200]},
    )


def stats_fields(types: int, total: int) -> Fields:
    return (
        "stats",
        f"Reviewed reason stats: {types} types, {total} decisions",
        "cstp:getReasonStats",
        {"total_decisions": total, "reason_type_count": types},
    )


def query_input(
    tracker: Tracker, key: str, query: str, mode: str, hits: Sequence[tuple[str, str, float]]
) -> TrackedInput:
    """The input a query makes, built now (preAction hands it to its own record): `hits` are
    (id, title, distance), nearest first."""
    return tracker.new_input(key, *query_fields(query, mode, len(hits), hits[:TOP_RESULTS]))


def guardrail_input(
    tracker: Tracker, key: str, description: str, allowed: bool, violations: int
) -> TrackedInput:
    return tracker.new_input(key, *guardrail_fields(description, allowed, violations))


# The observers run on the observed call's path: each notes plain values copied from the call
# (`Tracker.note`); the input is built when it is written (see `Captured`).
def _query(tracker: Tracker, ctx: CallContext, p: Any, r: Any) -> None:
    if not p.query.strip():
        return  # list mode looks nothing up
    rows = r.decisions
    top = tuple((row.id, row.title, row.distance) for row in rows[:TOP_RESULTS])
    tracker.note(ctx.agent, transport_key(ctx.agent), query_fields, p.query, r.retrieval_mode, len(rows), top)


def _check(tracker: Tracker, ctx: CallContext, p: Any, r: Any) -> None:
    agent = ctx.agent
    tracker.note(
        agent, transport_key(agent), guardrail_fields, p.action.description, r.allowed, len(r.violations)
    )


def _lookup(tracker: Tracker, ctx: CallContext, p: Any, r: Any) -> None:
    if not r.found or r.decision is None:
        return
    decision_id = str(r.decision.get("id", p.id))
    title = str(r.decision.get("decision", ""))
    tracker.note(ctx.agent, transport_key(ctx.agent), lookup_fields, decision_id, title)


def _stats(tracker: Tracker, ctx: CallContext, p: Any, r: Any) -> None:
    tracker.note(ctx.agent, transport_key(ctx.agent), stats_fields, len(r.by_reason_type), r.total_decisions)


Observer = Callable[[Tracker, CallContext, Any, Any], None]
OBSERVED: Mapping[str, Observer] = {
    "cstp.queryDecisions": _query,
    "cstp.checkGuardrails": _check,
    "cstp.getDecision": _lookup,
    "cstp.getReasonStats": _stats,
}


def _observing(handler: Callable[[Any, Any], Any], observe: Observer) -> Callable[[Any, Any], Any]:
    @functools.wraps(handler)  # keeps the handler's annotations (the method table is checked on them)
    def observed(p: Any, ctx: CallContext) -> Any:
        result = handler(p, ctx)
        tracker = ctx.services.tracker
        if tracker is not None:
            try:
                observe(tracker, ctx, p, result)
            except CstpError as e:  # e.g. a sink that writes directly and the store is down
                logger.warning("input not captured", extra={"error": str(e)})
        return result

    return observed


# --- recordDecision: the consumer -------------------------------------------------------------------
class TrackedRecordParams(RecordParams):
    """recordDecision's params plus what the tracker reads: the key's scoping parts and any
    explicit `related_to` (kept; the tracker's related decisions fill it only when absent)."""

    agent_id: str | None = alias("agentId", "agent_id")
    decision_id: str | None = alias("decisionId", "decision_id")
    related_to: list[dict[str, Any]] | None = alias("related_to", "relatedTo")
    # Set by `record_decision`, never from params: the consumed inputs, merged in `to_draft`.
    _taken: Taken | None = PrivateAttr(default=None)

    def to_draft(self) -> DecisionDraft:
        draft = super().to_draft()
        details = dict(draft.details)
        if self._taken is not None and self._taken.inputs:
            details["deliberation"] = deliberation_of(self._taken.inputs, self.deliberation)
            if not self.related_to and (related := self._taken.related()):
                details["related_to"] = related
        if self.related_to:
            details["related_to"] = self.related_to
        return dataclasses.replace(draft, details=details)


class TrackedRecordResult(RecordResult):
    deliberation_auto: bool | None = None
    deliberation_inputs_count: int | None = None
    related_count: int | None = None


def record_decision(
    p: TrackedRecordParams, ctx: CallContext, extra: Sequence[TrackedInput] = ()
) -> TrackedRecordResult:
    """recordDecision consuming the caller's tracked inputs (peeked first, deleted once stored).

    `extra` are inputs the caller gathered in the same call and never stored (preAction's own
    query and check), appended after the stored ones. Admitted as one write (`write_slot`): a
    refusal comes before the inputs are read, so they stay for the retry.
    """
    with write_slot(ctx):
        return _record_consuming(p, ctx, extra)


def _record_consuming(
    p: TrackedRecordParams, ctx: CallContext, extra: Sequence[TrackedInput]
) -> TrackedRecordResult:
    """The tracker's read of the inputs runs on the services' pool while the record is embedded
    on this thread (`complete`, see `DecisionService.record`): one after the other they were
    the first two steps of every record, 150 and 200 ms at the median under the mixed load."""
    tracker = ctx.services.tracker
    taken: Taken | None = None
    complete = None
    if tracker is not None:
        reading = on_pool(ctx, lambda: _take(tracker, ctx, p))

        def complete() -> TrackedRecordParams:
            nonlocal taken
            taken = reading.result()
            if extra:
                taken = Taken(
                    ctx.agent, (*(taken.inputs if taken else ()), *extra), taken.row_ids if taken else ()
                )
            if taken is None or not taken.inputs:
                return p
            params = p.model_copy()
            params._taken = taken
            return params

    base = decisions.record_decision(p, ctx, complete)
    result = TrackedRecordResult.model_validate(base.model_dump(exclude_unset=True))
    if tracker is not None and taken is not None and taken.inputs:
        try:
            tracker.consumed(taken, base.id)
        except CstpError as e:
            logger.warning("consumed inputs not cleared", extra={"error": str(e)})
        result.deliberation_auto = True
        result.deliberation_inputs_count = len(taken.inputs)
        if not p.related_to and (related := taken.related()):
            result.related_count = len(related)
    return result


def _take(tracker: Tracker, ctx: CallContext, p: TrackedRecordParams) -> Taken | None:
    try:
        return tracker.take(ctx.agent, consume_keys(ctx.agent, p.agent_id, p.decision_id))
    except CstpError as e:
        logger.warning("tracked inputs not read", extra={"error": str(e)})
        return None


def with_capture(table: Mapping[str, MethodSpec[Any, Any]]) -> dict[str, MethodSpec[Any, Any]]:
    """The method table with the observed methods capturing and recordDecision consuming."""
    out = dict(table)
    for name, observe in OBSERVED.items():
        if name in out:
            out[name] = dataclasses.replace(out[name], handler=_observing(out[name].handler, observe))
    if "cstp.recordDecision" in out:
        out["cstp.recordDecision"] = dataclasses.replace(
            out["cstp.recordDecision"],
            params=TrackedRecordParams,
            handler=record_decision,
            result=TrackedRecordResult,
        )
    return out
