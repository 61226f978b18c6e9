"""cstp.listBreakers, cstp.getCircuitState, cstp.resetCircuit: the circuit breakers on the wire.

Casing follows the reference server and its clients: listBreakers items are snake_case (the
dashboard reads them so), getCircuitState is camelCase, and resetCircuit sends camelCase
`previousState`/`newState` plus the snake_case `previous_state`/`new_state` the dashboard reads
(against the reference its flash message showed "? → ?").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator

from cstp.domain.breakers.service import BreakerStatus, CircuitBreakers
from cstp.domain.errors import InvalidInput
from cstp.methods.context import CallContext
from cstp.methods.wire import Params, Result, alias
from cstp.rpc.table import MethodSpec


def _breakers(ctx: CallContext) -> CircuitBreakers:
    breakers = ctx.services.guardrails.breakers
    if breakers is None:  # the composition root always gives the guardrails a breaker store
        raise InvalidInput("Circuit breakers are not enabled on this server", "scope")
    return breakers


class ListBreakersParams(Params):
    pass


class BreakerItem(Result):
    scope: str
    state: str
    failure_count: int
    failure_threshold: int
    window_ms: int
    cooldown_ms: int
    cooldown_remaining_ms: int | None
    from_config: bool

    @classmethod
    def of(cls, status: BreakerStatus) -> BreakerItem:
        return cls(
            scope=status.config.scope,
            state=status.state.state,
            failure_count=len(status.state.failures),
            failure_threshold=status.config.failure_threshold,
            window_ms=status.config.window_ms,
            cooldown_ms=status.config.cooldown_ms,
            cooldown_remaining_ms=status.cooldown_remaining_ms,
            from_config=True,  # only configured breakers exist here
        )


class ListBreakersResult(Result):
    breakers: list[BreakerItem]


def list_breakers(p: ListBreakersParams, ctx: CallContext) -> ListBreakersResult:
    return ListBreakersResult(breakers=[BreakerItem.of(s) for s in _breakers(ctx).statuses()])


class ScopeParams(Params):
    scope: str | None = Field(default=None, max_length=1000, validate_default=True)

    @field_validator("scope")
    @classmethod
    def _required(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            raise ValueError("Missing required parameter: scope")
        return v.strip()


class CircuitStateResult(Result):
    scope: str
    state: str
    failure_count: int = Field(serialization_alias="failureCount")
    failure_threshold: int = Field(serialization_alias="failureThreshold")
    window_ms: int = Field(serialization_alias="windowMs")
    cooldown_ms: int = Field(serialization_alias="cooldownMs")
    opened_at: str | None = Field(default=None, serialization_alias="openedAt")
    cooldown_remaining_ms: int | None = Field(default=None, serialization_alias="cooldownRemainingMs")
    probe_in_flight: bool = Field(serialization_alias="probeInFlight")


def get_circuit_state(p: ScopeParams, ctx: CallContext) -> CircuitStateResult:
    assert p.scope is not None
    status = _breakers(ctx).status(p.scope)
    if status is None:
        raise InvalidInput(f"No circuit breaker found for scope: {p.scope}", "scope")
    st = status.state
    optional: dict[str, Any] = {}
    if st.opened_at_ms is not None and st.state != "closed":
        optional["opened_at"] = datetime.fromtimestamp(st.opened_at_ms / 1000, UTC).isoformat()
    if status.cooldown_remaining_ms is not None:
        optional["cooldown_remaining_ms"] = status.cooldown_remaining_ms
    return CircuitStateResult(
        scope=status.config.scope,
        state=st.state,
        failure_count=len(st.failures),
        failure_threshold=status.config.failure_threshold,
        window_ms=status.config.window_ms,
        cooldown_ms=status.config.cooldown_ms,
        probe_in_flight=st.probe_in_flight,
        **optional,
    )


class ResetParams(ScopeParams):
    probe_first: bool | None = alias("probeFirst", "probe_first")


class ResetResult(Result):
    scope: str
    previous_state: str = Field(serialization_alias="previousState")
    new_state: str = Field(serialization_alias="newState")
    message: str
    # The same two values in snake_case, for the reference dashboard.
    previous_state_snake: str = Field(serialization_alias="previous_state")
    new_state_snake: str = Field(serialization_alias="new_state")


def reset_circuit(p: ResetParams, ctx: CallContext) -> ResetResult:
    assert p.scope is not None
    before, after = _breakers(ctx).reset(p.scope, probe_first=bool(p.probe_first))
    old, new = before.state.state, after.state.state
    return ResetResult(
        scope=p.scope,
        previous_state=old,
        new_state=new,
        message=f"Circuit breaker {p.scope} reset: {old} -> {new}",
        previous_state_snake=old,
        new_state_snake=new,
    )


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.listBreakers",
        ListBreakersParams,
        list_breakers,
        result=ListBreakersResult,
        summary="List configured circuit breakers and their state",
    ),
    MethodSpec(
        "cstp.getCircuitState",
        ScopeParams,
        get_circuit_state,
        result=CircuitStateResult,
        summary="State of one circuit breaker",
    ),
    MethodSpec(
        "cstp.resetCircuit",
        ResetParams,
        reset_circuit,
        result=ResetResult,
        summary="Close an open circuit breaker (or let one probe through with probeFirst)",
    ),
)
