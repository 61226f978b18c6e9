"""Record-phase guardrails: the action a just-recorded decision presents to the guardrail engine.

Wired into `DecisionService(record_policy=...)` by the composition root, so every caller that
records a decision (the JSON-RPC method, a CLI, a worker) gets the same warnings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cstp.domain.decisions import RecordPolicy
from cstp.domain.guardrails import ActionContext, GuardrailService
from cstp.domain.records import Decision


def record_action(d: Decision, quality_score: float) -> ActionContext:
    """What record-phase rules see of a stored decision (the keys docs/GUARDRAILS.md lists)."""
    deliberation = d.details.get("deliberation")
    inputs = deliberation.get("inputs") if isinstance(deliberation, dict) else None
    return ActionContext.for_record(
        description=d.decision,
        category=d.category,
        stakes=d.stakes,
        confidence=d.confidence,
        quality_score=quality_score,
        deliberation_inputs_count=len(inputs) if isinstance(inputs, list) else 0,
        has_deliberation=bool(deliberation),
        has_reasoning=bool(d.reasons) or bool(d.details.get("trace")),
        tags=d.tags,
        pattern=d.pattern,
        reason_count=len(d.reasons),
        project=d.project,
    )


def guardrail_policy(guardrails: GuardrailService) -> RecordPolicy:
    """The record policy that checks each recorded decision against the record-phase guardrails."""

    def check(d: Decision, quality_score: float, agent: str) -> Sequence[Any]:
        return guardrails.check_record(record_action(d, quality_score), agent)

    return check
