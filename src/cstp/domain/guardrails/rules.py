"""Validate a guardrail map and compile it, once, into an immutable `CompiledRule`.

Everything that can be decided at load time is decided here, so that a typo stops startup (or a
reload) with a `GuardrailError` naming the file and rule instead of silently never triggering, and
so that `engine.evaluate` only runs precompiled predicates. The file format is described in
docs/GUARDRAILS.md; the condition forms follow the reference server (protocol notes, section 4),
minus its bugs: a map condition's `"< 0.5"` is a comparison, not string equality, and CEL that does
not compile is an error, not a rule that fails open forever.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cstp.domain.breakers.config import BreakerConfig
from cstp.domain.errors import GuardrailError
from cstp.domain.guardrails.cel import CelCompileError, CelProgram
from cstp.domain.guardrails.conditions import (
    Condition,
    ConditionError,
    Requirement,
    compile_cel_condition,
    compile_condition,
    compile_requirement,
)

ACTIONS = ("block", "warn", "log")
_KEYS = frozenset({"id", "description", "action", "message", "scope", "suggestion", "condition", "requires"})
_PLACEHOLDER = re.compile(r"\{([^{}\s]+)\}")


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One guardrail, validated and ready to evaluate.

    Thread safety: immutable (frozen; its predicates and CEL program hold no state), so one
    instance is shared by every concurrent check."""

    id: str
    description: str
    action: str
    message: str
    scope: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    requirements: tuple[Requirement, ...] = ()
    cel: CelProgram | None = None
    suggestion: str | None = None
    file: str = ""
    _template: tuple[tuple[str, str | None], ...] = field(default=(), repr=False, compare=False)

    @property
    def name(self) -> str:
        """What the wire calls `name`: the description, or the id when there is none."""
        return self.description or self.id

    def render_message(self, values: Mapping[str, Any]) -> str:
        """Fill `{field}` placeholders from `values`; unknown placeholders stay as written."""
        out = []
        for text, key in self._template:
            out.append(text)
            if key is not None:
                out.append(str(values[key]) if key in values else "{" + key + "}")
        return "".join(out)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every loaded rule in load order, the files they came from, and a fingerprint of those files
    (paths, sizes, mtimes) so a watcher can tell a real change from noise.

    Thread safety: immutable; a reload builds a new RuleSet and swaps it in whole, breakers
    included, so a reload updates them too."""

    rules: tuple[CompiledRule, ...] = ()
    files: tuple[Path, ...] = ()
    fingerprint: str = ""
    # The circuit breakers configured in the same files (`circuit_breakers:` maps).
    breakers: tuple[BreakerConfig, ...] = ()

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[CompiledRule]:
        return iter(self.rules)


def compile_rule(raw: Any, file: str) -> CompiledRule:
    """Validate one guardrail map and compile it. Raises GuardrailError(code, file, rule id)."""
    if not isinstance(raw, Mapping):
        raise GuardrailError(
            f"a guardrail must be a map, got {type(raw).__name__}", code="bad_type", file=file
        )
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise GuardrailError("every guardrail needs a non-empty string `id`", code="missing_id", file=file)
    rule_id = rule_id.strip()

    def fail(message: str, code: str) -> GuardrailError:
        return GuardrailError(message, code=code, file=file, rule_id=rule_id)

    unknown = sorted(
        str(k)
        for k in raw
        if k not in _KEYS and not (isinstance(k, str) and k.startswith(("condition_", "requires_")))
    )
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)}", "unknown_key")
    action = raw.get("action", "warn")
    if action not in ACTIONS:
        raise fail(f"action must be one of {', '.join(ACTIONS)}, got {action!r}", "bad_action")
    description, message, suggestion = (
        _text(raw, key, default, fail)
        for key, default in (
            ("description", ""),
            ("message", f"Guardrail {rule_id} triggered"),
            ("suggestion", None),
        )
    )
    try:
        conditions = tuple(
            compile_condition(k.removeprefix("condition_"), v)
            for k, v in raw.items()
            if isinstance(k, str) and k.startswith("condition_")
        )
        requirements = [
            compile_requirement(k.removeprefix("requires_"), v)
            for k, v in raw.items()
            if isinstance(k, str) and k.startswith("requires_")
        ]
        nested = raw.get("requires")
        if nested is not None:
            if not isinstance(nested, Mapping):
                raise fail("`requires` must be a map of field: expected", "bad_type")
            requirements.extend(compile_requirement(str(k), v) for k, v in nested.items())
        cel = compile_cel_condition(raw["condition"]) if "condition" in raw else None
    except CelCompileError as e:
        raise fail(str(e), "cel_compile") from None
    except ConditionError as e:
        raise fail(str(e), e.code) from None
    return CompiledRule(
        id=rule_id,
        description=description or "",
        action=action,
        message=message or "",
        scope=_scope(raw.get("scope"), fail),
        conditions=conditions,
        requirements=tuple(requirements),
        cel=cel,
        suggestion=suggestion,
        file=file,
        _template=_template(message or ""),
    )


def _text(
    raw: Mapping[str, Any],
    key: str,
    default: str | None,
    fail: Callable[[str, str], GuardrailError],
) -> str | None:
    value = raw.get(key, default)
    if value is None or isinstance(value, str):
        return value if value is not None else default
    raise fail(f"`{key}` must be a string", "bad_type")


def _scope(value: Any, fail: Callable[[str, str], GuardrailError]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise fail("`scope` must be a string or a list of strings", "bad_type")


def _template(message: str) -> tuple[tuple[str, str | None], ...]:
    parts: list[tuple[str, str | None]] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(message):
        parts.append((message[pos : m.start()], m.group(1)))
        pos = m.end()
    parts.append((message[pos:], None))
    return tuple(parts)
