"""CEL conformance: the intended answer of each expression for each action, pinned.

This is the differential matrix the old hand-written fast path was checked against. Each answer is
True, False or E (an evaluation error: the rule does not trigger, it fails open), and the engine
cstp runs must give exactly that. Each case also runs through cel-python's interpreter, the engine
cstp used before: the two agree everywhere except where CEL itself moved on, a comparison of an int
with a double, which cel-python refuses and current CEL (cel-go, cel-cpp, the Rust engine) answers
numerically. That is the one deliberate behaviour change (docs/GUARDRAILS.md).
"""

from __future__ import annotations

from typing import Any

import celpy
import pytest
from celpy.adapter import json_to_cel

from cstp.domain.guardrails import ActionContext
from cstp.domain.guardrails.cel import CelRuntimeError, bind_action, compile_cel

E = "error"
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

CASES: list[tuple[str, tuple[object, ...]]] = [
    ("action.stakes == 'high'", (True, False, False, False)),
    ("action.stakes != 'high'", (False, True, True, True)),
    ("action.confidence < 0.5", (True, True, False, True)),
    ("action.confidence < 1", (True, True, False, True)),
    ("0.5 > action.confidence", (True, True, False, True)),
    ("action.reason_count < 2", (True, True, False, True)),
    ("action.reason_count < 2.0", (True, True, False, True)),
    ("-1 < action.reason_count", (True, True, True, True)),
    ("double(action.context.n) >= 3.0", (True, False, True, E)),
    ("double(action.context.n) >= 3", (True, False, True, E)),
    ("action.context.n > 2", (True, True, E, E)),
    ("action.stakes != 'low' && action.context.rows > 20000", (E, False, E, E)),
    ("!(action.context.rows > 5) || action.stakes == 'low'", (E, True, E, E)),
    ("action.context.flag && action.confidence > 0.1", (True, False, E, False)),
    ("size(action.tags) == 0", (False, True, True, False)),
    ("action.tags.size() > 1", (True, False, False, True)),
    ("size(action.description) > 5", (True, True, True, False)),
    ("action.stakes in ['high', 'critical']", (True, False, True, False)),
    ("'x' in action.tags", (True, False, False, True)),
    ("action.tags.exists(t, t == 'x')", (True, False, False, True)),
    ("action.tags.exists(t, 'x' == t)", (True, False, False, True)),
    ("action.tags.all(t, t != 'x')", (False, True, True, False)),
    ("action.description.contains('deploy')", (True, False, True, False)),
    ("action.description.startsWith('Ref')", (False, True, False, False)),
    ("action.description.endsWith('prod')", (True, False, False, False)),
    ("action.description.matches('^dep.*d$')", (True, False, True, False)),
    ("action.description.matches(r'\\d+')", (False, True, False, False)),
    ("has(action.context.flag)", (True, True, True, False)),
    ("!has(action.quality_score)", (True, True, False, True)),
    ("action.has_tags", (True, False, False, True)),
    ("!action.has_pattern", (True, True, False, True)),
    ("action.context.flag", (True, False, E, E)),
    ("!action.context.flag", (False, True, E, E)),
    ("action.context.flag == true", (True, False, False, E)),
    ("action.context.missing == 1", (E, E, E, E)),
    ("action.stakes == 'high' && action.context.missing == 1", (E, False, False, False)),
    ("action.stakes == 'low' && action.context.missing == 1", (False, E, False, False)),
    ("action.stakes == 'high' || action.context.missing == 1", (True, E, E, E)),
    ("action.context.missing == 1 || action.stakes == 'low'", (E, True, E, E)),
    (
        "(action.confidence < 0.5 || action.category == 'security') && !action.context.flag",
        (False, True, False, E),
    ),
    ("action.quality_score < 0.5", (E, E, True, E)),
    ("action.confidence * 2.0 > 1.0", (False, False, True, False)),
    ("action.phase == 'check' && action.description.size() > 0", (True, True, True, True)),
    ('action.category == "security"', (True, False, False, False)),
    ("action.stakes == 'high' ? action.confidence < 0.5 : false", (True, False, False, False)),
    ("action.stakes == 'high' && action.confidence * 2.0 > 1.0", (False, False, False, False)),
    ("action.stakes == 'low' || action.confidence * 2.0 > 1.0", (False, True, True, False)),
    ("action.confidence * 2.0 > 1.0 && action.context.missing == 1", (False, False, E, False)),
    ("action.confidence * 2.0 > 1.0 || action.context.missing == 1", (E, E, True, E)),
    ("action.tags.all(t, t != 'x') || action.reason_count + 1 > 2", (False, True, True, False)),
    (
        "action.tags.all(t, t != 'x') && action.reason_count + 1 > 2 && action.stakes != 'low'",
        (False, False, True, False),
    ),
    ("action.reason_count + 1 && action.stakes == 'high'", (E, False, False, False)),
    ("action.reason_count + 1 || action.stakes == 'high'", (True, E, E, E)),
]
INT_DOUBLE = frozenset({"action.reason_count < 2.0"})
_celpy = celpy.Environment()


def view(action: dict[str, Any]) -> dict[str, Any]:
    return ActionContext.from_action(action).cel_action


def engine(expression: str, action: dict[str, Any]) -> object:
    try:
        return compile_cel(expression).evaluate(bind_action(view(action)))
    except CelRuntimeError:
        return E


def cel_python(expression: str, action: dict[str, Any]) -> object:
    try:
        result = _celpy.program(_celpy.compile(expression)).evaluate({"action": json_to_cel(view(action))})
    except Exception:
        return E
    return bool(result) if isinstance(result, celpy.celtypes.BoolType) else E


@pytest.mark.parametrize(("expression", "expected"), CASES)
def test_the_engine_gives_the_pinned_answer(expression: str, expected: tuple[object, ...]) -> None:
    assert tuple(engine(expression, a) for a in ACTIONS) == expected


@pytest.mark.parametrize(("expression", "expected"), [c for c in CASES if c[0] not in INT_DOUBLE])
def test_cel_python_gives_the_same_answer(expression: str, expected: tuple[object, ...]) -> None:
    assert tuple(cel_python(expression, a) for a in ACTIONS) == expected


def test_int_double_comparisons_are_numeric_where_cel_python_failed_open() -> None:
    for expression in INT_DOUBLE:
        assert [cel_python(expression, a) for a in ACTIONS] == [E] * len(ACTIONS)
        assert E not in [engine(expression, a) for a in ACTIONS]


def test_every_answer_kind_is_covered() -> None:
    answers = {answer for _, row in CASES for answer in row}
    assert answers == {True, False, E}
