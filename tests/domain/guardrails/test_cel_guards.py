"""The native fast path gives exactly the interpreter's answer (True, False or an error).

Each expression is evaluated two ways for each action: through `CelProgram.evaluate` (guards
first, interpreter only when they are unsure) and through the cel-python interpreter alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from celpy.evaluation import Evaluator

from cstp.domain.guardrails import ActionContext
from cstp.domain.guardrails.cel import CelRuntimeError, compile_cel, to_activation

EXPRESSIONS = [
    "action.stakes == 'high'",
    "action.stakes != 'high'",
    "action.confidence < 0.5",
    "action.confidence < 1",
    "0.5 > action.confidence",
    "action.reason_count < 2",
    "action.reason_count < 2.0",
    "-1 < action.reason_count",
    "double(action.context.n) >= 3.0",
    "double(action.context.n) >= 3",
    "action.context.n > 2",
    "action.stakes != 'low' && action.context.rows > 20000",
    "!(action.context.rows > 5) || action.stakes == 'low'",
    "action.context.flag && action.confidence > 0.1",
    "size(action.tags) == 0",
    "action.tags.size() > 1",
    "size(action.description) > 5",
    "action.stakes in ['high', 'critical']",
    "'x' in action.tags",
    "action.tags.exists(t, t == 'x')",
    "action.tags.exists(t, 'x' == t)",
    "action.tags.all(t, t != 'x')",
    "action.description.contains('deploy')",
    "action.description.startsWith('Ref')",
    "action.description.endsWith('prod')",
    "action.description.matches('^dep.*d$')",
    r"action.description.matches(r'\d+')",
    "has(action.context.flag)",
    "!has(action.quality_score)",
    "action.has_tags",
    "!action.has_pattern",
    "action.context.flag",
    "!action.context.flag",
    "action.context.flag == true",
    "action.context.missing == 1",
    "action.stakes == 'high' && action.context.missing == 1",
    "action.stakes == 'low' && action.context.missing == 1",
    "action.stakes == 'high' || action.context.missing == 1",
    "action.context.missing == 1 || action.stakes == 'low'",
    "(action.confidence < 0.5 || action.category == 'security') && !action.context.flag",
    "action.quality_score < 0.5",
    "action.confidence * 2.0 > 1.0",
    "action.phase == 'check' && action.description.size() > 0",
    'action.category == "security"',
    "action.stakes == 'high' ? action.confidence < 0.5 : false",
    "action.stakes == 'high' && action.confidence * 2.0 > 1.0",
    "action.stakes == 'low' || action.confidence * 2.0 > 1.0",
    "action.confidence * 2.0 > 1.0 && action.context.missing == 1",
    "action.confidence * 2.0 > 1.0 || action.context.missing == 1",
    "action.tags.all(t, t != 'x') || action.reason_count + 1 > 2",
    "action.tags.all(t, t != 'x') && action.reason_count + 1 > 2 && action.stakes != 'low'",
    "action.reason_count + 1 && action.stakes == 'high'",
    "action.reason_count + 1 || action.stakes == 'high'",
]

ACTIONS: list[dict[str, Any]] = [
    {
        "description": "deploy to prod",
        "stakes": "high",
        "confidence": 0.3,
        "category": "security",
        "tags": ["x", "y"],
        "context": {"flag": True, "n": 3},
    },
    {
        "description": "Refactor 42 modules",
        "stakes": "low",
        "confidence": None,
        "tags": [],
        "context": {"flag": False, "n": 2.5},
    },
    {
        "description": "deployed",
        "stakes": "critical",
        "confidence": 1,
        "reasons": [1, 2, 3],
        "n": "7",
        "flag": "yes",
        "quality_score": 0.2,
        "pattern": "p",
    },
    {"description": "x", "tags": [1, "x"], "context": {}},
]


def interpreter(expression: str, view: dict[str, Any]) -> object:
    program = compile_cel(expression)
    try:
        result = Evaluator(program.ast, to_activation(view)).evaluate()
    except Exception:
        return "error"
    return bool(result) if type(result).__name__ == "BoolType" else "error"


def fast_path(expression: str, view: dict[str, Any]) -> object:
    program = compile_cel(expression)
    try:
        return program.evaluate(view, lambda: to_activation(view))
    except CelRuntimeError:
        return "error"


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_fast_path_equals_the_interpreter(expression: str) -> None:
    for action in ACTIONS:
        view = ActionContext.from_action(action).cel_action
        assert fast_path(expression, view) == interpreter(expression, view), action


def test_simple_expressions_never_reach_the_interpreter() -> None:
    def no_interpreter() -> None:
        raise AssertionError("the interpreter ran")

    view = ActionContext.from_action(ACTIONS[0]).cel_action
    for expression in (
        "action.stakes == 'high' && action.confidence < 0.5",
        "action.stakes in ['high'] && 'x' in action.tags && action.context.flag",
        "action.description.matches('prod$') || action.context.missing",
    ):
        assert compile_cel(expression).evaluate(view, no_interpreter) is True


def test_a_missing_optional_key_is_an_error_answered_without_the_interpreter() -> None:
    def no_interpreter() -> None:
        raise AssertionError("the interpreter ran")

    view = ActionContext.from_action({"description": "x", "stakes": "high"}).cel_action
    program = compile_cel("action.stakes != 'low' && action.context.rows > 20000")
    with pytest.raises(CelRuntimeError, match="rows"):
        program.evaluate(view, no_interpreter)
    # `false && error` is false in CEL, and `true || error` is true: the error is absorbed.
    assert (
        compile_cel("action.stakes == 'low' && action.context.rows > 1").evaluate(view, no_interpreter)
        is False
    )
    assert (
        compile_cel("action.stakes == 'high' || action.context.rows > 1").evaluate(view, no_interpreter)
        is True
    )
