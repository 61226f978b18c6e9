"""cstp.ready: the agent's work queue (overdue reviews, stale pending decisions, calibration drift).

The actions come from the store digest (`domain.digest`, cached by `runtime.snapshot`). `total`
counts the actions that match `actionTypes` and `category` before the `minPriority` filter;
`filtered` is how many that filter removed, as in the reference.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from cstp.domain.digest import PRIORITY, ReadyAction
from cstp.domain.errors import InvalidInput, StoreUnavailable
from cstp.methods.context import CallContext
from cstp.methods.wire import Int, Params, Result, alias
from cstp.rpc.table import MethodSpec

ActionType = Literal["review_outcome", "stale_pending", "calibration_drift"]


class ReadyParams(Params):
    min_priority: str | None = alias("minPriority", "min_priority")
    action_types: list[ActionType] | None = alias("actionTypes", "action_types")
    limit: Int = Field(default=20)
    category: str | None = None

    @field_validator("limit")
    @classmethod
    def _clamp(cls, v: int) -> int:
        return max(1, min(v, 50))


class ActionOut(Result):
    type: str
    priority: str
    reason: str
    suggestion: str
    decision_id: str | None = Field(default=None, serialization_alias="decisionId")
    category: str | None = None
    date: str | None = None
    title: str | None = None
    detail: str | None = None

    @classmethod
    def of(cls, a: ReadyAction) -> ActionOut:
        optional = {
            k: v
            for k, v in (
                ("decision_id", a.decision_id),
                ("category", a.category),
                ("date", a.date),
                ("title", a.title),
                ("detail", a.detail),
            )
            if v is not None
        }
        return cls(type=a.type, priority=a.priority, reason=a.reason, suggestion=a.suggestion, **optional)


class ReadyResult(Result):
    actions: list[ActionOut]
    total: int
    filtered: int


def select(
    actions: tuple[ReadyAction, ...],
    *,
    types: list[str] | None,
    category: str | None,
    min_priority: str | None,
    limit: int,
) -> tuple[list[ReadyAction], int, int]:
    """(the first `limit` kept actions, total before the priority filter, how many it removed)."""
    matching = [
        a for a in actions if (not types or a.type in types) and (not category or a.category == category)
    ]
    floor = PRIORITY.get(min_priority or "low", 0)
    kept = [a for a in matching if PRIORITY[a.priority] >= floor]
    return kept[:limit], len(matching), len(matching) - len(kept)


def ready(p: ReadyParams, ctx: CallContext) -> ReadyResult:
    if ctx.services.digest is None:
        raise StoreUnavailable("store summaries are not configured")
    kept, total, filtered = select(
        ctx.services.digest.get().ready,
        types=list(p.action_types) if p.action_types else None,
        category=p.category,
        min_priority=p.min_priority,
        limit=p.limit,
    )
    return ReadyResult(actions=[ActionOut.of(a) for a in kept], total=total, filtered=filtered)


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.ready",
        ReadyParams,
        ready,
        result=ReadyResult,
        summary="What needs the agent's attention: overdue reviews, stale pending decisions, drift",
        errors=(InvalidInput, StoreUnavailable),
    ),
)
