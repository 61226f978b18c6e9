"""Evaluate compiled guardrails against one action: `evaluate(rules, action) -> Verdict`.

Pure: no I/O, no logging, no clock, no shared mutable state, so it is safe to call from any
thread and trivial to test. Everything per-action (the legacy condition context, the CEL `action`
map) is built once in `ActionContext` (`action.py`); everything per-rule was compiled by
`rules.py`. The CEL context is built once per check, and only if some CEL rule gets past its scope
and flat conditions.

Semantics (docs/GUARDRAILS.md has the full reference):
- a rule applies when its scope matches (or the action names no project/scope) and every
  `condition_*` holds (a missing field makes a condition false) and its CEL condition, if any, is
  true. Unlike the reference server, scope also applies to CEL rules;
- with requirements, an applying rule triggers when any requirement fails (a missing field fails);
  without requirements, it triggers whenever it applies;
- `block` → violation (allowed=false); `warn`/`log` → warning with that severity;
- a CEL error for this action (say, a missing key) means "does not trigger" (fail open) and is
  listed in `Verdict.errors` so the caller can log it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cstp.domain.guardrails.action import ActionContext
from cstp.domain.guardrails.cel import CelRuntimeError, bind_action
from cstp.domain.guardrails.rules import RuleSet

_MISSING = object()


@dataclass(frozen=True, slots=True)
class Finding:
    """A triggered guardrail: what `methods.guardrails` sends as a violation, warning or
    record-phase `guardrail_warnings` item. `severity` is the rule's action (block, warn, log)."""

    guardrail_id: str
    name: str
    message: str
    severity: str
    suggestion: str | None = None


@dataclass(frozen=True, slots=True)
class RuleFailure:
    """A CEL rule that could not be evaluated for this action (it did not trigger)."""

    guardrail_id: str
    error: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one check. `errors` is debug output, never sent on the wire."""

    allowed: bool
    violations: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    evaluated: int = 0
    errors: tuple[RuleFailure, ...] = ()


def evaluate(rules: RuleSet, action: ActionContext) -> Verdict:
    """Evaluate every rule in `rules` against `action` (check-phase semantics)."""
    facts, keys = action.facts, action.scope_keys
    context: Any = None  # the CEL `action`, converted on first use: a cel.Context or its error
    placeholders: dict[str, Any] | None = None  # message values, built for the first finding
    violations: list[Finding] = []
    warnings: list[Finding] = []
    errors: list[RuleFailure] = []
    for rule in rules.rules:
        if rule.scope and keys and keys.isdisjoint(rule.scope):
            continue
        for cond in rule.conditions:
            value = facts.get(cond.field, _MISSING)
            if value is _MISSING or not cond.test(value):
                break
        else:
            if rule.cel is not None:
                if context is None:
                    try:
                        context = bind_action(action.cel_action)
                    except CelRuntimeError as e:
                        context = e
                try:
                    if isinstance(context, CelRuntimeError):
                        raise context
                    if not rule.cel.evaluate(context):
                        continue
                except CelRuntimeError as e:
                    errors.append(RuleFailure(rule.id, str(e)))
                    continue
            if rule.requirements and all(_holds(r.field, r.test, facts) for r in rule.requirements):
                continue
            if placeholders is None:
                placeholders = {"description": action.description, **facts}
            message = rule.render_message(placeholders)
            finding = Finding(rule.id, rule.name, message, rule.action, rule.suggestion)
            (violations if rule.action == "block" else warnings).append(finding)
    return Verdict(not violations, tuple(violations), tuple(warnings), len(rules.rules), tuple(errors))


def evaluate_record(rules: RuleSet, action: ActionContext) -> Verdict:
    """Record-phase evaluation: the same rules, but nothing blocks (every finding is a warning,
    keeping its severity), because the decision has already been made."""
    verdict = evaluate(rules, action)
    return Verdict(True, (), (*verdict.violations, *verdict.warnings), verdict.evaluated, verdict.errors)


def _holds(field: str, test: Any, facts: Mapping[str, Any]) -> bool:
    value = facts.get(field, _MISSING)
    return value is not _MISSING and bool(test(value))
