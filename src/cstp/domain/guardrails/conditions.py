"""The three condition forms of a guardrail file, compiled to predicates or CEL programs.

1. Flat legacy keys: `condition_<field>: <value>` and `requires_<field>: <expected>`;
2. the nested `requires: {field: expected}` map;
3. `condition:` as a CEL string, as `{cel: "..."}`, or as a plain map converted to CEL.

A string value starting with an operator (`"< 0.5"`, `">= 0.7"`, `"!= low"`) is a comparison in
every form. The reference server turned such a value inside a map condition into string equality,
so a rule like `quality_score: "< 0.5"` never triggered; here it is a comparison, as meant.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cstp.domain.guardrails.action import STANDARD_KEYS
from cstp.domain.guardrails.cel import CelProgram, compile_cel

_ORDERING = frozenset({"<", "<=", ">", ">="})
_SUFFIXES = (("_lte", "<="), ("_gte", ">="), ("_lt", "<"), ("_gt", ">"))
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Test = Callable[[Any], bool]
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True, slots=True)
class Condition:
    """`condition_<field>`: the rule applies only when `test(context[field])` holds."""

    field: str
    operator: str
    value: Any
    test: Test = dataclasses.field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Requirement:
    """`requires_<field>` / `requires: {field: expected}`: failing one triggers the rule."""

    field: str
    expected: Any
    test: Test = dataclasses.field(repr=False, compare=False)


class ConditionError(ValueError):
    """A condition or requirement value is invalid; `code` is the GuardrailError code to use."""

    def __init__(self, message: str, code: str = "bad_operator") -> None:
        super().__init__(message)
        self.code = code


def parse_operator(text: str) -> tuple[str, float | str] | None:
    """`"<= 0.5"` → ("<=", 0.5); `"!= low"` → ("!=", "low"); plain strings → None."""
    s = text.strip()
    op = next((o for o in ("<=", ">=", "==", "!=") if s.startswith(o)), None)
    if op is None and s[:1] in ("<", ">"):
        op = s[0]
    if op is None:
        if s[:1] == "=":
            raise ConditionError(f"unknown operator in {text!r}; use one of <, <=, >, >=, ==, !=")
        return None
    rest = s[len(op) :].strip()
    if rest[:1] in ("<", ">", "="):
        raise ConditionError(f"unknown operator in {text!r}; use one of <, <=, >, >=, ==, !=")
    number = _number(rest)
    if op in _ORDERING and number is None:
        raise ConditionError(f"operator {op} needs a number, got {rest!r}", "bad_operand")
    return op, (number if number is not None else rest)


def _number(value: Any) -> float | None:
    """A finite float for ints, floats and numeric strings; None otherwise (bools included)."""
    if type(value) is bool:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _compare(op: str, operand: float | str) -> Test:
    """A predicate for `actual <op> operand`, legacy semantics (numbers compared as floats)."""
    fn = OPERATORS[op]
    if isinstance(operand, str):
        return lambda actual: bool(fn(actual, operand))
    if op in _ORDERING:

        def ordered(actual: Any) -> bool:
            number = _number(actual)
            return number is not None and bool(fn(number, operand))

        return ordered
    equal = op == "=="

    def equality(actual: Any) -> bool:
        number = _number(actual)
        return (number == operand) is equal if number is not None else not equal

    return equality


def compile_condition(name: str, value: Any) -> Condition:
    """`condition_<name>: value`: an operator string is a comparison, anything else equality."""
    if not name:
        raise ConditionError("`condition_` needs a field name", "bad_type")
    parsed = parse_operator(value) if isinstance(value, str) else None
    if parsed is not None:
        op, operand = parsed
        return Condition(name, op, operand, _compare(op, operand))
    return Condition(name, "==", value, lambda actual: bool(actual == value))


def compile_requirement(name: str, expected: Any) -> Requirement:
    """`requires_<name>: expected`: booleans by truthiness, operator strings compare, else ==."""
    if not name:
        raise ConditionError("`requires_` needs a field name", "bad_type")
    if isinstance(expected, bool):
        return Requirement(name, expected, lambda actual: bool(actual) is expected)
    parsed = parse_operator(expected) if isinstance(expected, str) else None
    if parsed is not None:
        return Requirement(name, expected, _compare(*parsed))
    return Requirement(name, expected, lambda actual: bool(actual == expected))


def compile_cel_condition(condition: Any) -> CelProgram:
    """`condition:` as a CEL string, `{cel: "..."}`, or a plain map converted by `map_to_cel`."""
    if isinstance(condition, str):
        return compile_cel(condition)
    if isinstance(condition, Mapping):
        if "cel" in condition:
            if len(condition) != 1 or not isinstance(condition["cel"], str):
                raise ConditionError(
                    "`condition: {cel: ...}` takes one CEL string and nothing else", "bad_type"
                )
            return compile_cel(condition["cel"])
        return compile_cel(map_to_cel(condition))
    raise ConditionError("`condition` must be a CEL string or a map", "bad_type")


def map_to_cel(condition: Mapping[Any, Any]) -> str:
    """Convert a map condition to a CEL conjunction (reference F054 rules, plus comparisons).

    `confidence_lt: 0.5` → `double(action.confidence) < 0.5`; `quality_*` → `quality_score`;
    standard fields are `action.<f>`, any other key `action.context.<f>`; a string value starting
    with an operator (`"< 0.5"`) is a comparison. Numbers compare through `double()`: CEL compares
    ints with doubles numerically anyway, but `double()` also reads a numeric string a caller sent
    (`"12"`) as a number, exactly as the flat `condition_*` form does, so both forms agree.
    """
    parts = []
    for key, value in condition.items():
        name, op = str(key), None
        for suffix, suffix_op in _SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name, op = name[: -len(suffix)], suffix_op
                break
        if name == "quality" or name.startswith("quality_"):
            name = "quality_score"
        ref = (
            f"action.{name}"
            if name in STANDARD_KEYS
            else f"action.context.{name}"
            if _IDENT.fullmatch(name)
            else f"action.context[{_cel_string(name)}]"
        )
        if isinstance(value, str) and (parsed := parse_operator(value)) is not None:
            if op is not None:
                raise ConditionError(f"{key}: a suffix and an operator in the value; use one")
            op, value = parsed
        parts.append(_cel_test(str(key), ref, op or "==", value))
    return " && ".join(parts) or "true"


def _cel_test(key: str, ref: str, op: str, value: Any) -> str:
    if isinstance(value, bool) or value is None:
        if op not in ("==", "!="):
            raise ConditionError(f"{key}: {op} needs a number", "bad_operand")
        return f"{ref} {op} {'null' if value is None else str(value).lower()}"
    if isinstance(value, int | float):
        number = _number(value)
        if number is None:
            raise ConditionError(f"{key}: {value!r} is not a finite number", "bad_operand")
        return f"double({ref}) {op} {number!r}"
    if isinstance(value, str):
        if op in _ORDERING:
            raise ConditionError(f"{key}: {op} needs a number, got {value!r}", "bad_operand")
        return f"{ref} {op} {_cel_string(value)}"
    if isinstance(value, list) and op == "==" and all(isinstance(v, str) for v in value):
        return f"{ref} in [{', '.join(_cel_string(v) for v in value)}]"
    raise ConditionError(f"{key}: unsupported value {value!r}", "bad_type")


def _cel_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
