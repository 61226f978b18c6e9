"""cstp.recordThought and cstp.debugTracker: the deliberation tracker seen from the wire.

recordThought files a thought as a tracked input (pre-decision: scoped by `agentId` /
`decisionId` under the caller, consumed by the next record) or, given a bare `id`, appends it to
a stored decision's deliberation (post-decision). debugTracker shows the caller's tracked inputs
and history; an admin (CSTP_ADMIN_AGENTS) sees every agent's, other agents' scoped keys qualified
as `<key>@<agent>` so two agents' `agent:x` keys never merge.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import Field, model_validator

from cstp.domain.errors import AmbiguousId, DecisionNotFound, InvalidInput, StoreUnavailable
from cstp.domain.records import utcnow
from cstp.domain.tracker import Tracker, scoped_key, transport_key
from cstp.methods.context import CallContext
from cstp.methods.wire import DecisionId, Params, Result, alias
from cstp.rpc.table import MethodSpec

ThoughtText = Field(min_length=1, max_length=20_000)


class ThoughtParams(Params):
    text: str = ThoughtText
    agent_id: str | None = alias("agentId", "agent_id")
    decision_id: str | None = alias("decisionId", "decision_id")
    id: DecisionId | None = None  # without the two above: append to this stored decision

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("text"):
            raise ValueError("Missing required parameter: text")
        return data


class ThoughtResult(Result):
    """snake_case, as the reference sends it; the keys differ by mode."""

    success: bool
    mode: str
    tracker_key: str | None = None
    agent_id: str | None = None
    decision_id: str | None = None
    step_number: int | None = None


def _tracker(ctx: CallContext) -> Tracker:
    if ctx.services.tracker is None:
        raise StoreUnavailable("the deliberation tracker is not configured")
    return ctx.services.tracker


def record_thought(p: ThoughtParams, ctx: CallContext) -> ThoughtResult:
    if p.id and not p.agent_id and not p.decision_id:
        now = utcnow().isoformat()
        thought_id = f"r-{secrets.token_hex(4)}"
        stored, number = ctx.services.decisions.add_thought(
            p.id,
            {"id": thought_id, "text": p.text, "source": "cstp:recordThought", "timestamp": now},
            {
                "thought": p.text,
                "inputs_used": [thought_id],
                "timestamp": now,
                "type": "reasoning",
                "conclusion": False,
            },
        )
        return ThoughtResult(success=True, mode="post-decision", decision_id=stored.id, step_number=number)
    key = scoped_key(ctx.agent, p.agent_id, p.decision_id)
    data = {k: v for k, v in (("agent_id", p.agent_id), ("decision_id", p.decision_id)) if v}
    _tracker(ctx).capture(ctx.agent, key, "reasoning", p.text, "cstp:recordThought", data)
    return ThoughtResult(success=True, mode="pre-decision", tracker_key=key, agent_id=p.agent_id or ctx.agent)


class DebugParams(Params):
    key: str | None = None
    include_consumed: bool = Field(default=False, alias="includeConsumed")


class InputOut(Result):
    id: str
    type: str
    text: str
    source: str
    age_seconds: int = Field(serialization_alias="ageSeconds")


class SessionOut(Result):
    input_count: int = Field(serialization_alias="inputCount")
    inputs: list[InputOut]


class ConsumedOut(Result):
    key: str
    consumed_at: int = Field(serialization_alias="consumedAt")  # seconds ago, as the reference
    input_count: int = Field(serialization_alias="inputCount")
    agent_id: str | None = Field(serialization_alias="agentId")
    decision_id: str | None = Field(serialization_alias="decisionId")
    status: str
    inputs_summary: list[dict[str, str]] = Field(serialization_alias="inputsSummary")


class DebugResult(Result):
    sessions: list[str]
    session_count: int = Field(serialization_alias="sessionCount")
    detail: dict[str, SessionOut]
    consumed: list[ConsumedOut] | None = None


def _shown(key: str, owner: str, caller: str) -> str:
    """How a key is displayed: the caller's own keys and transport keys as they are."""
    return key if owner == caller or key == transport_key(owner) else f"{key}@{owner}"


def debug_tracker(p: DebugParams, ctx: CallContext) -> DebugResult:
    tracker = _tracker(ctx)
    scope = None if ctx.admin else ctx.agent
    now = tracker.now()
    detail: dict[str, SessionOut] = {}
    for owner, i in tracker.inputs(scope):
        key = _shown(i.key, owner, ctx.agent)
        if p.key is not None and key != p.key:
            continue
        session = detail.setdefault(key, SessionOut(input_count=0, inputs=[]))
        age = int((now - i.captured_at).total_seconds())
        session.inputs.append(InputOut(id=i.id, type=i.type, text=i.text, source=i.source, age_seconds=age))
        session.input_count += 1
    result = DebugResult(sessions=list(detail), session_count=len(detail), detail=detail)
    if p.include_consumed:
        result.consumed = [
            ConsumedOut(
                key=_shown(e.key, owner, ctx.agent),
                consumed_at=int((now - e.at).total_seconds()),
                input_count=e.input_count,
                agent_id=e.agent_id,
                decision_id=e.decision_id,
                status=e.status,
                inputs_summary=list(e.inputs_summary),
            )
            for owner, e in tracker.history(scope)
        ]
    return result


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.recordThought",
        ThoughtParams,
        record_thought,
        result=ThoughtResult,
        summary="Record a reasoning step: before a decision (tracked) or onto a stored decision",
        errors=(InvalidInput, DecisionNotFound, AmbiguousId, StoreUnavailable),
    ),
    MethodSpec(
        "cstp.debugTracker",
        DebugParams,
        debug_tracker,
        result=DebugResult,
        summary="Show the caller's captured deliberation inputs and consumption history",
        errors=(StoreUnavailable,),
    ),
)
