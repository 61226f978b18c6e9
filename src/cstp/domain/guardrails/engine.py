"""Evaluate compiled guardrails against one action: `evaluate(rules, action) -> Verdict`.

Pure: no I/O, no logging, no clock, no shared mutable state, so it is safe to call from any
thread and trivial to test. Everything per-action (the legacy condition context, the CEL `action`
map) is built once in `ActionContext`; everything per-rule was compiled by `rules.py`. CEL
activations are built only if some CEL rule gets past its native guards.

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

from cstp.domain.errors import InvalidInput
from cstp.domain.guardrails.cel import CelRuntimeError, to_activation
from cstp.domain.guardrails.cel_ast import STANDARD_KEYS
from cstp.domain.guardrails.rules import CompiledRule, RuleSet

_MISSING = object()
_OPTIONAL_CEL_KEYS = (
    "deliberation_inputs_count",
    "has_deliberation",
    "has_reasoning",
    "scope",
    "project",
)


@dataclass(frozen=True, slots=True)
class ActionContext:
    """One action, prepared for evaluation. Build it with `from_action` or `for_record`.

    `facts` is the legacy condition context (also used for message placeholders); `cel_action` is
    the plain-Python `action` map CEL expressions see, with caller extras under `context`.
    """

    facts: Mapping[str, Any]
    cel_action: dict[str, Any]
    description: str
    scope_keys: frozenset[str]
    phase: str

    @classmethod
    def from_action(cls, action: Mapping[str, Any]) -> ActionContext:
        """The checkGuardrails / preAction context: `{category, stakes, confidence}` plus every
        other key of `action` and of `action.context` (top-level keys win). `description` is not
        a legacy fact, as in the reference server, but CEL sees it as `action.description`."""
        description = action.get("description")
        if description is None:
            raise InvalidInput("Missing required field: action.description", "action.description")
        facts: dict[str, Any] = {}
        nested = action.get("context")
        if isinstance(nested, Mapping):
            facts.update(nested)
        elif nested is not None:
            facts["context"] = nested
        facts.update((k, v) for k, v in action.items() if k not in ("description", "context"))
        if facts.get("stakes") is None:
            facts["stakes"] = "medium"
        facts.setdefault("category", None)
        facts.setdefault("confidence", None)
        return cls._build(facts, str(description), facts.get("phase") or "check")

    @classmethod
    def for_record(
        cls,
        *,
        description: str,
        category: str,
        stakes: str,
        confidence: float,
        quality_score: float,
        deliberation_inputs_count: int = 0,
        has_deliberation: bool = False,
        has_reasoning: bool = False,
        tags: tuple[str, ...] | list[str] = (),
        pattern: str | None = None,
        reason_count: int = 0,
        project: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> ActionContext:
        """The recordDecision context (phase "record"); its results never block."""
        facts: dict[str, Any] = dict(context or {})
        facts.update(
            description=description,
            category=category,
            stakes=stakes,
            confidence=confidence,
            quality_score=quality_score,
            deliberation_inputs_count=deliberation_inputs_count,
            has_deliberation=has_deliberation,
            has_reasoning=has_reasoning,
            phase="record",
            tags=list(tags),
            pattern=pattern,
            reason_count=reason_count,
        )
        if project is not None:
            facts["project"] = project
        return cls._build(facts, description, "record")

    @classmethod
    def _build(cls, facts: dict[str, Any], description: str, phase: str) -> ActionContext:
        tags = facts.get("tags")
        tag_list = list(tags) if isinstance(tags, list | tuple) else []
        pattern = facts.get("pattern")
        pattern = pattern if isinstance(pattern, str) else ""
        reasons = facts.get("reasons")
        default_count = len(reasons) if isinstance(reasons, list) else 0
        cel: dict[str, Any] = {
            "description": description,
            "stakes": facts["stakes"],
            "confidence": _double(facts.get("confidence")),
            "category": facts.get("category") or "",
            "tags": tag_list,
            "reason_count": facts.get("reason_count", default_count),
            "pattern": pattern,
            "has_tags": bool(tag_list),
            "has_pattern": bool(pattern),
            "phase": phase,
        }
        if facts.get("quality_score") is not None:  # absent is not the same as a 0.0 score
            cel["quality_score"] = _double(facts["quality_score"])
        cel.update((k, facts[k]) for k in _OPTIONAL_CEL_KEYS if facts.get(k) is not None)
        cel["context"] = {k: v for k, v in facts.items() if k not in STANDARD_KEYS}
        keys = frozenset(
            str(v) for v in (facts.get("project"), facts.get("scope")) if v is not None and v != ""
        )
        return cls(facts, cel, description, keys, phase)


@dataclass(frozen=True, slots=True)
class Finding:
    """A triggered guardrail."""

    guardrail_id: str
    name: str
    message: str
    severity: str
    suggestion: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """checkGuardrails shape (camelCase)."""
        out = {
            "guardrailId": self.guardrail_id,
            "name": self.name,
            "message": self.message,
            "severity": self.severity,
        }
        if self.suggestion:
            out["suggestion"] = self.suggestion
        return out

    def to_record(self) -> dict[str, Any]:
        """recordDecision `guardrail_warnings` item shape (snake_case)."""
        return {
            "guardrail_id": self.guardrail_id,
            "message": self.message,
            "severity": self.severity,
        }


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

    def to_wire(self) -> dict[str, Any]:
        """The checkGuardrails result minus `evaluatedAt` and `agent`, which the wire layer adds."""
        return {
            "allowed": self.allowed,
            "violations": [f.to_wire() for f in self.violations],
            "warnings": [f.to_wire() for f in self.warnings],
            "evaluated": self.evaluated,
        }

    def to_record_warnings(self) -> list[dict[str, Any]]:
        """recordDecision's `guardrail_warnings`: every finding, blocking ones included."""
        return [f.to_record() for f in (*self.violations, *self.warnings)]


def evaluate(rules: RuleSet, action: ActionContext) -> Verdict:
    """Evaluate every rule in `rules` against `action` (check-phase semantics)."""
    facts, keys, view = action.facts, action.scope_keys, action.cel_action
    cache: list[Any] = []

    def activation() -> Any:
        if not cache:
            cache.append(to_activation(view))
        return cache[0]

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
            cel = rule.cel
            if cel is not None:
                # The native guard usually answers; only if it is unsure does CEL itself run.
                try:
                    if not cel.evaluate(view, activation):
                        continue
                except CelRuntimeError as e:
                    errors.append(RuleFailure(rule.id, str(e)))
                    continue
            if rule.requirements and all(_holds(r.field, r.test, facts) for r in rule.requirements):
                continue
            finding = _finding(rule, action)
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


def _finding(rule: CompiledRule, action: ActionContext) -> Finding:
    values = {"description": action.description, **action.facts}
    return Finding(rule.id, rule.name, rule.render_message(values), rule.action, rule.suggestion)


def _double(value: Any) -> Any:
    """CEL sees confidence-like numbers as doubles (null → 0.0); other types are left for CEL to
    reject, so a wrong type fails open instead of being guessed at."""
    if value is None:
        return 0.0
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value
