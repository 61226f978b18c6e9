"""CEL conditions at run time: compile once at load, evaluate per check, fail open per action.

A compile error is a load error (the caller turns it into GuardrailError). An evaluation error for
one action (a missing key, a type mismatch) makes that rule not trigger and is reported to the
caller as CelRuntimeError, so the engine can list it in the verdict's debug output.

Most conjuncts are answered by native guards (`cel_ast`, `cel_guards`) without running CEL at all.
When CEL must run, one activation is built per check and shared by every CEL rule of that check:
NOTE(guardrails): this is what `celpy.InterpretedRunner.evaluate` does internally
(`Evaluator(ast, activation).evaluate()`), minus rebuilding the activation for every rule, which
costs more than evaluating a short expression. `celpy.CompiledRunner` would be faster still, but it
writes into module globals on every evaluation (not thread-safe) and logs at ERROR on every missing
key, so it is not used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from celpy import Environment, celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import Activation, CELEvalError, Evaluator
from lark import Tree

from cstp.domain.guardrails.cel_ast import CelCheckError, analyse
from cstp.domain.guardrails.cel_guards import Guard, Missing


class CelCompileError(ValueError):
    """The expression does not parse or names something that can never exist."""


class CelRuntimeError(Exception):
    """Evaluating the expression failed for this action (missing key, type mismatch, ...)."""


@dataclass(frozen=True, slots=True)
class CelProgram:
    """A compiled CEL condition plus the native guard derived from it (None: CEL only)."""

    text: str
    ast: Tree[Any] = field(repr=False, compare=False)
    guard: Guard | None = field(default=None, repr=False, compare=False)
    mode: str = "single"  # the top-level chain: "and", "or" or a single expression
    parts: tuple[tuple[Guard | None, Tree[Any]], ...] = field(default=(), repr=False, compare=False)

    def evaluate(self, view: dict[str, Any], activation: Callable[[], Activation]) -> bool:
        """True when the condition holds. `view` is the plain `action` dict; `activation` returns
        the (lazily built, shared) CEL activation. Raises CelRuntimeError when CEL fails."""
        if self.guard is not None:
            answer = self.guard(view)
            if isinstance(answer, Missing):
                raise CelRuntimeError(_no_such_key(answer))
            if answer is not None:
                return bool(answer)
        return self.run(view, activation)

    def run(self, view: dict[str, Any], activation: Callable[[], Activation]) -> bool:
        """Evaluate when the guard was unsure: the interpreter runs only on the top-level operands
        no guard could answer, combined with CEL's commutative `&&` / `||` (an error loses to a
        deciding operand, and is raised only when no operand decides)."""
        if self.mode == "single":
            return _interpret(self.parts[0][1], activation)
        decisive = self.mode == "or"  # the operand value that decides the chain
        error: CelRuntimeError | None = None
        for guard, tree in self.parts:
            answer = guard(view) if guard is not None else None
            if isinstance(answer, Missing):
                error = error or CelRuntimeError(_no_such_key(answer))
                continue
            if answer is None:
                try:
                    answer = _interpret(tree, activation)
                except CelRuntimeError as e:
                    error = error or e
                    continue
            if answer is decisive:
                return decisive
        if error is not None:
            raise error
        return not decisive


def _interpret(tree: Tree[Any], activation: Callable[[], Activation]) -> bool:
    try:
        result = Evaluator(tree, activation()).evaluate()
    except CELEvalError as e:
        raise CelRuntimeError(_describe(e)) from None
    except CelRuntimeError:
        raise
    except Exception as e:  # cel-python raises plain Python errors for some bad inputs
        raise CelRuntimeError(f"{type(e).__name__}: {e}") from None
    if not isinstance(result, celtypes.BoolType):
        raise CelRuntimeError(f"expression gave {type(result).__name__}, not a bool")
    return bool(result)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment()


@lru_cache(maxsize=1)
def _base_activation() -> Activation:
    env = _environment()
    return Activation(package=env.package, annotations=env.annotations)


def compile_cel(text: str) -> CelProgram:
    """Parse, check and prepare `text`. Raises CelCompileError so a broken rule fails loading."""
    try:
        ast = _environment().compile(text)
    except CELParseError as e:
        where = f" at line {e.line}, column {e.column}" if getattr(e, "line", None) else ""
        raise CelCompileError(f"CEL syntax error{where}: {text!r}") from None
    except Exception as e:  # lark can raise other errors on odd input
        raise CelCompileError(f"CEL syntax error: {e}") from None
    try:
        guard, mode, parts = analyse(ast)
    except CelCheckError as e:
        raise CelCompileError(str(e)) from None
    return CelProgram(text, ast, guard, mode, parts)


def to_activation(action: dict[str, Any]) -> Activation:
    """The CEL activation binding `action` (raises CelRuntimeError if it is not convertible)."""
    try:
        values = {"action": json_to_cel(action)}
    except (TypeError, ValueError) as e:
        raise CelRuntimeError(f"action cannot be converted to CEL values: {e}") from None
    activation = _base_activation().clone()
    activation.identifiers.load_values(values)
    return activation


def _no_such_key(missing: Missing) -> str:
    """The message cel-python gives for the same error, so logs read alike on both paths."""
    return f"no such member in mapping: {missing.field!r}"


def _describe(e: BaseException) -> str:
    return str(e.args[0]) if e.args else repr(e)
