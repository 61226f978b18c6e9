"""Circuit breakers inside the guardrail check: an open breaker is one more violation.

`GuardrailService.check` (what checkGuardrails and preAction call) runs the rules, then this gate,
so every caller of the check is blocked alike. A breaker violation is a `BreakerFinding`, carrying
the wire's extra keys (`type`, `state`, `resetAt`) and the id `circuit_breaker:<scope>`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cstp.domain.breakers.config import Subject
from cstp.domain.breakers.service import Block, CircuitBreakers
from cstp.domain.guardrails.action import ActionContext
from cstp.domain.guardrails.engine import Finding, Verdict
from cstp.domain.records import Decision


@dataclass(frozen=True, slots=True)
class BreakerFinding(Finding):
    """A violation raised by a circuit breaker rather than a rule."""

    type: str = "circuit_breaker"
    state: str = "open"
    reset_at: datetime | None = None  # when an OPEN breaker lets a probe through

    @classmethod
    def of(cls, block: Block) -> BreakerFinding:
        reset_at = (
            None if block.reset_at_ms is None else datetime.fromtimestamp(block.reset_at_ms / 1000, UTC)
        )
        return cls(
            guardrail_id=f"circuit_breaker:{block.config.scope}",
            name=f"Circuit breaker: {block.config.scope}",
            message=block.message,
            severity="block",
            state=block.state.state,
            reset_at=reset_at,
        )


def subject_of(action: ActionContext, agent: str) -> Subject:
    """What breaker scopes are matched against for a checked action: its category, stakes and
    tags, and the authenticated agent."""
    facts = action.facts
    tags = action.cel_action.get("tags") or []
    category = facts.get("category")
    return Subject(
        category=None if category is None else str(category),
        stakes=str(facts.get("stakes")),
        agent=agent,
        tags=tuple(str(t) for t in tags),
    )


def gate(verdict: Verdict, action: ActionContext, agent: str, breakers: CircuitBreakers) -> Verdict:
    """`verdict` with a violation added for every breaker blocking `action`."""
    blocks = breakers.gate(subject_of(action, agent), allowed=verdict.allowed)
    if not blocks:
        return verdict
    violations = (*verdict.violations, *(BreakerFinding.of(b) for b in blocks))
    return Verdict(False, violations, verdict.warnings, verdict.evaluated, verdict.errors)


def review_hook(breakers: CircuitBreakers) -> Callable[[Decision], None]:
    """The decision service's `on_review`: count a stored review's outcome in the breakers whose
    scope covers the decision (its category, stakes, tags and recording agent).

    A store failure is raised (the client gets "store unavailable" and reviews again): one outcome
    event per decision and scope, so a repeated review still counts once."""

    def on_review(decision: Decision) -> None:
        if decision.outcome is None:
            return
        subject = Subject(decision.category, decision.stakes, decision.recorded_by, decision.tags)
        breakers.record_outcome(subject, decision.outcome, decision.id)

    return on_review
