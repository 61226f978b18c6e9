"""cstp.checkGuardrails and cstp.listGuardrails."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cstp.domain.records import utcnow
from cstp.methods.context import CallContext
from cstp.methods.wire import Params
from cstp.rpc.table import MethodSpec


class ActionParam(BaseModel):
    """The action to check. Keys beyond the known ones are merged into the evaluation context."""

    model_config = ConfigDict(extra="allow", frozen=True)
    description: str = Field(min_length=1, max_length=20_000)
    category: str | None = None
    stakes: str = "medium"
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    context: dict[str, Any] = Field(default_factory=dict)


class AgentParam(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str | None = None
    url: str | None = None


class CheckParams(Params):
    action: ActionParam | None = None
    agent: AgentParam | None = None  # parsed for compatibility; the token's agent is used

    @model_validator(mode="before")
    @classmethod
    def _present(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("action"):
            raise ValueError("Missing required parameter: action")
        return data


def check_guardrails(p: CheckParams, ctx: CallContext) -> dict[str, Any]:
    assert p.action is not None
    action = p.action.model_dump()
    verdict = ctx.services.guardrails.check(action, ctx.agent)
    result: dict[str, Any] = verdict.to_wire()
    result["evaluatedAt"] = utcnow().isoformat()
    result["agent"] = ctx.services.agent_name
    return result


class ListParams(Params):
    scope: str | None = None


def list_guardrails(p: ListParams, ctx: CallContext) -> dict[str, Any]:
    rules = ctx.services.guardrails.list(p.scope)
    return {"guardrails": rules, "count": len(rules), "agent": ctx.services.agent_name}


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.checkGuardrails",
        CheckParams,
        check_guardrails,
        summary="Check an intended action against the loaded guardrails (block or warn)",
        # Compiled rules in memory, no I/O, no lock: answered on the event loop. A rule that falls
        # back to the CEL interpreter costs up to ~1 ms; many such rules would call for blocking=True.
        blocking=False,
    ),
    MethodSpec(
        "cstp.listGuardrails", ListParams, list_guardrails, summary="List loaded guardrails", blocking=False
    ),
)
