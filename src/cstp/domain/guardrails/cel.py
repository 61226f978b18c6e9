"""CEL conditions at run time: compile once at load, evaluate per check, fail open per action.

A compile error is a load error (the caller turns it into GuardrailError). An evaluation error for
one action (a missing key, a type mismatch) makes that rule not trigger and is reported to the
caller as CelRuntimeError, so the engine can list it in the verdict's debug output.

The interpreted runner is used on purpose: `celpy.CompiledRunner` is faster but writes into module
globals on every evaluation (not thread-safe) and logs at ERROR on every missing key. Its cost is
kept off the hot path by the native guards from `cel_ast`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from celpy import (
    Environment,
    celtypes,
)
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from cstp.domain.guardrails.cel_ast import CelNameError, Guard, analyse


class CelCompileError(ValueError):
    """The expression does not parse or names something that can never exist."""


class CelRuntimeError(Exception):
    """Evaluating the expression failed for this action (missing key, type mismatch, ...)."""


@dataclass(frozen=True, slots=True)
class CelProgram:
    """A compiled CEL condition plus the native guards derived from its top-level conjuncts."""

    text: str
    runner: Any = field(repr=False, compare=False)
    guards: tuple[Guard, ...] = field(repr=False, compare=False)
    exact: bool = False  # every conjunct is a guard: the guards alone decide the result

    def evaluate(self, view: Mapping[str, Any], activation: Callable[[], Any]) -> bool:
        """True when the condition holds. `view` is the plain `action` dict; `activation` builds the
        CEL activation lazily. Raises CelRuntimeError when CEL itself fails."""
        decided = True
        for guard in self.guards:
            answer = guard(view)
            if answer is False:
                return False
            if answer is None:
                decided = False
        if self.exact and decided:
            return True
        try:
            result = self.runner.evaluate(activation())
        except CELEvalError as e:
            raise CelRuntimeError(_describe(e)) from None
        except Exception as e:  # cel-python raises plain Python errors for some bad inputs
            raise CelRuntimeError(f"{type(e).__name__}: {e}") from None
        if isinstance(result, CELEvalError):
            raise CelRuntimeError(_describe(result))
        if not isinstance(result, celtypes.BoolType):
            raise CelRuntimeError(f"expression gave {type(result).__name__}, not a bool")
        return bool(result)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment()


def compile_cel(text: str) -> CelProgram:
    """Parse, check and prepare `text`. Raises CelCompileError so a broken rule fails loading."""
    env = _environment()
    try:
        ast = env.compile(text)
    except CELParseError as e:
        where = f" at line {e.line}, column {e.column}" if getattr(e, "line", None) else ""
        raise CelCompileError(f"CEL syntax error{where}: {text!r}") from None
    except Exception as e:  # lark can raise other errors on odd input
        raise CelCompileError(f"CEL syntax error: {e}") from None
    try:
        guards, exact = analyse(ast)
    except CelNameError as e:
        raise CelCompileError(str(e)) from None
    return CelProgram(text, env.program(ast), guards, exact=exact)


def to_activation(action: Mapping[str, Any]) -> Any:
    """The CEL activation for a plain `action` map (raises CelRuntimeError if not convertible)."""
    try:
        return {"action": json_to_cel(dict(action))}
    except (TypeError, ValueError) as e:
        raise CelRuntimeError(f"action cannot be converted to CEL values: {e}") from None


def _describe(e: BaseException) -> str:
    return str(e.args[0]) if e.args else repr(e)
