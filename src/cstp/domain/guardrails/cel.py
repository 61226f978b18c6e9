"""CEL conditions, evaluated by a CEL engine: compile once at load, evaluate per check, fail open.

The engine is `common-expression-language` (`import cel`, Rust's cel-interpreter): a compiled
`cel.Program` is immutable and safe to share between request threads, and evaluates a short
condition in about a microsecond, so no expression needs a hand-written fast path.

A compile error is a load error (the caller turns it into GuardrailError); `compile_cel` adds the
checks the engine does not make (`cel_checks`). An evaluation error for one action (a missing key,
a type mismatch, a non-boolean result) makes that rule not trigger and is reported to the caller as
CelRuntimeError, so the engine can list it in the verdict's debug output.

The `action` map is converted to CEL values once per check (`bind_action`, about 30 µs), not once
per rule: the engine calls it lazily, only if some CEL rule gets past its scope and flat conditions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cel

from cstp.domain.guardrails.cel_checks import check_expression


class CelCompileError(ValueError):
    """The expression does not parse or names something that can never exist."""


class CelRuntimeError(Exception):
    """Evaluating the expression failed for this action (missing key, type mismatch, ...)."""


@dataclass(frozen=True, slots=True)
class CelProgram:
    """A compiled CEL condition.

    Thread safety: immutable; the engine's `cel.Program` keeps no per-evaluation state, so one
    instance serves every concurrent check (each check brings its own `cel.Context`)."""

    text: str
    program: cel.Program = field(repr=False, compare=False)

    def evaluate(self, context: cel.Context) -> bool:
        """True when the condition holds for the action bound in `context` (see `bind_action`).
        Raises CelRuntimeError when it cannot be evaluated for this action."""
        try:
            result = self.program.execute(context)
        except KeyError as e:  # the engine's "no such key"
            raise CelRuntimeError(f"no such key: {e}") from None
        except Exception as e:  # RuntimeError, TypeError, ValueError, ... all fail open
            raise CelRuntimeError(_describe(e)) from None
        if type(result) is not bool:
            raise CelRuntimeError(f"expression gave {type(result).__name__}, not a bool")
        return result


def compile_cel(text: str) -> CelProgram:
    """Parse and check `text`. Raises CelCompileError so a broken rule fails loading."""
    try:
        program = cel.compile(text)
    except ValueError as e:
        raise CelCompileError(f"CEL syntax error: {_describe(e)}") from None
    problem = check_expression(text, program.variables())
    if problem is not None:
        raise CelCompileError(problem)
    return CelProgram(text, program)


def bind_action(view: dict[str, Any]) -> cel.Context:
    """A CEL context binding `action` to `view`. Raises CelRuntimeError when a value has no CEL
    type (a set, an arbitrary object), which makes every CEL rule of that check fail open."""
    try:
        return cel.Context(variables={"action": view})
    except (TypeError, ValueError, OverflowError) as e:
        raise CelRuntimeError(f"action cannot be converted to CEL values: {_describe(e)}") from None


def _describe(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
