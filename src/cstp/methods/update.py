"""cstp.updateDecision: change what a stored decision says, validated like recordDecision.

The reference server takes `updates{}`, keeps the keys of its allow-list (decision, confidence,
tags, pattern, context, reasons, bridge), drops the others and writes the values unchecked. cstp
keeps the allow-list and the result shape but validates each value with the field types
recordDecision uses (`methods.decisions`), so an update cannot store what a record would refuse;
a bad value is -32602 naming `updates.<field>`. Dropped keys are reported in `ignored_fields`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from cstp.domain.errors import AmbiguousId, DecisionNotFound, InvalidInput, StoreUnavailable
from cstp.domain.records import Reason
from cstp.methods.context import CallContext, write_slot
from cstp.methods.decisions import (
    Bridge,
    ByIdParams,
    ContextText,
    DecisionText,
    PatternText,
    Reasons,
    Tags,
)
from cstp.methods.wire import Confidence, Result
from cstp.rpc.table import MethodSpec


class DecisionUpdates(BaseModel):
    """The allow-listed keys of `updates`. `context`, `pattern` and `bridge` may be null (cleared);
    the others must carry a value, as a recorded decision always has one."""

    model_config = ConfigDict(extra="allow", frozen=True)
    decision: DecisionText | None = None
    confidence: Confidence | None = None
    tags: Tags | None = None
    pattern: PatternText | None = None
    context: ContextText | None = None
    reasons: Reasons | None = None
    bridge: Bridge | None = None

    @field_validator("decision", "confidence", "tags", "reasons", mode="before")
    @classmethod
    def _not_null(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("must not be null")
        return v

    @model_validator(mode="after")
    def _something_to_apply(self) -> DecisionUpdates:
        if not self.applied():
            allowed = ", ".join(type(self).model_fields)
            ignored = self.ignored()
            raise ValueError(
                f"no field that can be updated (allowed: {allowed})"
                + (f"; ignored: {', '.join(ignored)}" if ignored else "")
            )
        return self

    def applied(self) -> list[str]:
        """The allow-listed keys the caller sent, in declaration order."""
        return [name for name in type(self).model_fields if name in self.model_fields_set]

    def ignored(self) -> list[str]:
        return sorted(self.model_extra or {})

    def to_changes(self) -> dict[str, Any]:
        """The domain's `changes` for `DecisionService.update` (domain types, no wire shapes)."""
        changes: dict[str, Any] = {}
        for name in self.applied():
            value = getattr(self, name)
            if name == "reasons":
                value = tuple(Reason(r.type, r.text, r.strength) for r in value)
            elif name == "tags":
                value = tuple(value)
            elif name == "decision":
                value = value.strip()
            changes[name] = value
        return changes


class UpdateParams(ByIdParams):
    updates: DecisionUpdates


class UpdateResult(Result):
    success: bool
    id: str
    updated_fields: list[str] | None = None
    ignored_fields: list[str] | None = None  # set only when `updates` held keys outside the allow-list
    indexed: bool | None = None
    error: str | None = None


def update_decision(p: UpdateParams, ctx: CallContext) -> UpdateResult:
    try:
        with write_slot(ctx):
            updated, indexed = ctx.services.decisions.update(p.id, p.updates.to_changes(), ctx.agent)
    except DecisionNotFound as e:
        # The reference reports a missing decision inside the result, and its MCP clients read it so.
        return UpdateResult(success=False, id=p.id, error=str(e))
    result = UpdateResult(success=True, id=updated.id, updated_fields=p.updates.applied(), indexed=indexed)
    if ignored := p.updates.ignored():
        result.ignored_fields = ignored
    return result


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.updateDecision",
        UpdateParams,
        update_decision,
        result=UpdateResult,
        summary="Change a decision's text, confidence, tags, pattern, context, reasons or bridge",
        errors=(InvalidInput, AmbiguousId, StoreUnavailable),
    ),
)
