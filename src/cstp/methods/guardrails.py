"""cstp.checkGuardrails and cstp.listGuardrails, and the record-phase `guardrail_warnings` shape.

The domain returns plain dataclasses (`Verdict`, `Finding`, `CompiledRule`); the wire shapes live
here as result models. checkGuardrails speaks camelCase (`guardrailId`, `evaluatedAt`), while
recordDecision's `guardrail_warnings` items are snake_case, as the reference server sends them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cstp.domain.guardrails import CompiledRule, Finding
from cstp.domain.guardrails.breaker_gate import BreakerFinding
from cstp.domain.records import utcnow
from cstp.methods.context import CallContext
from cstp.methods.wire import Params, Result
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


class FindingOut(Result):
    """A violation or warning of checkGuardrails. `suggestion` is absent when the rule has none;
    a circuit breaker's violation adds `type: "circuit_breaker"`, `state` and (when open) `resetAt`."""

    guardrail_id: str = Field(serialization_alias="guardrailId")
    name: str
    message: str
    severity: str
    suggestion: str | None = None
    type: str | None = None
    state: str | None = None
    reset_at: str | None = Field(default=None, serialization_alias="resetAt")

    @classmethod
    def of(cls, finding: Finding) -> FindingOut:
        # Only a non-empty suggestion is passed, so an unset one is absent from the reply.
        optional: dict[str, Any] = {"suggestion": finding.suggestion} if finding.suggestion else {}
        if isinstance(finding, BreakerFinding):
            optional.update(type=finding.type, state=finding.state)
            if finding.reset_at is not None:
                optional["reset_at"] = finding.reset_at.isoformat()
        return cls(
            guardrail_id=finding.guardrail_id,
            name=finding.name,
            message=finding.message,
            severity=finding.severity,
            **optional,
        )


class CheckResult(Result):
    allowed: bool
    violations: list[FindingOut]
    warnings: list[FindingOut]
    evaluated: int  # the number of loaded rules
    evaluated_at: str = Field(serialization_alias="evaluatedAt")
    agent: str  # the server's name


def check_guardrails(p: CheckParams, ctx: CallContext) -> CheckResult:
    assert p.action is not None
    verdict = ctx.services.guardrails.check(p.action.model_dump(), ctx.agent)
    return CheckResult(
        allowed=verdict.allowed,
        violations=[FindingOut.of(f) for f in verdict.violations],
        warnings=[FindingOut.of(f) for f in verdict.warnings],
        evaluated=verdict.evaluated,
        evaluated_at=utcnow().isoformat(),
        agent=ctx.services.agent_name,
    )


class ListParams(Params):
    scope: str | None = None


class ConditionOut(Result):
    field: str
    operator: str
    value: Any


class RequirementOut(Result):
    field: str
    expected: Any


class RuleOut(Result):
    """A listGuardrails entry. Messages and CEL text are deliberately not exposed: a CEL-only rule
    lists `conditions: []`."""

    id: str
    description: str
    action: str
    scope: list[str]
    conditions: list[ConditionOut]
    requirements: list[RequirementOut]

    @classmethod
    def of(cls, rule: CompiledRule) -> RuleOut:
        return cls(
            id=rule.id,
            description=rule.description,
            action=rule.action,
            scope=list(rule.scope),
            conditions=[
                ConditionOut(field=c.field, operator=c.operator, value=c.value) for c in rule.conditions
            ],
            requirements=[RequirementOut(field=r.field, expected=r.expected) for r in rule.requirements],
        )


class ListResult(Result):
    guardrails: list[RuleOut]
    count: int
    agent: str


def list_guardrails(p: ListParams, ctx: CallContext) -> ListResult:
    rules = [RuleOut.of(r) for r in ctx.services.guardrails.rules_in_scope(p.scope)]
    return ListResult(guardrails=rules, count=len(rules), agent=ctx.services.agent_name)


class GuardrailWarning(Result):
    """One recordDecision `guardrail_warnings` item (snake_case); blocking rules appear here too,
    with severity "block", because a recorded decision is never refused."""

    guardrail_id: str
    message: str
    severity: str


def guardrail_warnings(findings: Iterable[Finding]) -> list[GuardrailWarning]:
    """recordDecision's `guardrail_warnings` value for the record-phase `findings`."""
    return [
        GuardrailWarning(guardrail_id=f.guardrail_id, message=f.message, severity=f.severity)
        for f in findings
    ]


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.checkGuardrails",
        CheckParams,
        check_guardrails,
        result=CheckResult,
        summary="Check an intended action against the loaded guardrails (block or warn)",
        # Compiled rules in memory, no I/O, no lock: answered on the event loop. A rule that falls
        # back to the CEL interpreter costs up to ~1 ms; many such rules would call for blocking=True.
        # Circuit breakers are read from a view a poller thread keeps fresh; the one store round
        # trip a check can make is claiming a half-open breaker's probe (once per cooldown and
        # scope) or re-reading a view the poller left stale (domain.breakers.service).
        blocking=False,
    ),
    MethodSpec(
        "cstp.listGuardrails",
        ListParams,
        list_guardrails,
        result=ListResult,
        summary="List loaded guardrails",
        blocking=False,
    ),
)
