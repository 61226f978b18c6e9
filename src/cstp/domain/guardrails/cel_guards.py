"""Native guards: plain-Python answers for simple CEL conjuncts, or None when unsure.

A guard receives the plain `action` dict (the same data CEL sees) and returns True or False only
when cel-python would return exactly that value: operand types must match as CEL types would
(int with int, double with double, string with string, bool with bool) and lists must hold only
that type. A missing key gives a `Missing` (CEL's "no such key" error). None means "let CEL decide".
`cel_ast` builds guards from the parsed expression; `cel.CelProgram` uses them to skip the
interpreter.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import re2  # type: ignore[import-untyped]  # google-re2, the engine cel-python's matches() uses


class Missing:
    """A field the expression reads is absent: CEL raises "no such key" there, an error (which
    `&&` / `||` may still absorb), not an unsure answer. Answering it natively keeps rules that
    name an optional context key off the interpreter. Built once per guard, naming the field."""

    __slots__ = ("field",)

    def __init__(self, path: tuple[str, ...]) -> None:
        self.field = ".".join(("action", *path))

    def __repr__(self) -> str:
        return f"Missing({self.field})"


Answer = bool | None | Missing
Guard = Callable[[dict[str, Any]], Answer]

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
# Python type → CEL type family. Exact types only: subclasses (bool is an int!) stay unsure.
KIND: dict[type, str] = {bool: "bool", int: "int", float: "double", str: "string"}
_INT64 = 2**63
_ABSENT = object()
_STRING_METHODS: dict[str, Callable[[str, str], bool]] = {
    "contains": str.__contains__,
    "startsWith": str.startswith,
    "endsWith": str.endswith,
}
STRING_METHODS = frozenset({*_STRING_METHODS, "matches"})


def lookup(view: dict[str, Any], path: tuple[str, ...]) -> Any:
    """`view[path[0]][path[1]]...`, or a sentinel when a step is missing or not a map."""
    cur: Any = view
    for key in path:
        if type(cur) is not dict:
            return _ABSENT
        cur = cur.get(key, _ABSENT)
    return cur


def getter(path: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    """`lookup` specialised for a path: `action.f` and `action.context.f` are the hot cases."""
    if len(path) == 1:
        (key,) = path
        return lambda view: view.get(key, _ABSENT)
    if len(path) == 2:
        outer, inner = path

        def get(view: dict[str, Any]) -> Any:
            container = view.get(outer)
            return container.get(inner, _ABSENT) if type(container) is dict else _ABSENT

        return get
    return lambda view: lookup(view, path)


def _int64(value: Any) -> bool:
    return bool(-_INT64 <= value < _INT64)


def _transformed(value: Any, transform: str | None) -> Any:
    if transform is None:
        return value
    if transform == "double":  # CEL double(): ints and doubles only (strings are left to CEL)
        if type(value) is int and _int64(value):
            return float(value)
        return value if type(value) is float else _ABSENT
    if type(value) in (list, str, dict):  # size()
        return len(value)
    return _ABSENT


def compare(path: tuple[str, ...], transform: str | None, op: str, literal: Any) -> Guard | None:
    """`[double|size](action.<path>) <op> literal`."""
    kind = KIND.get(type(literal))
    if kind is None or (kind == "bool" and op not in ("==", "!=")):
        return None
    if kind == "int" and not _int64(literal):
        return None
    test, get, literal_type = OPERATORS[op], getter(path), type(literal)
    missing = Missing(path)

    if transform is None and kind != "int":  # the hot case: no conversion, no range check

        def plain(view: dict[str, Any]) -> Answer:
            value = get(view)
            if type(value) is literal_type:
                return bool(test(value, literal))
            return missing if value is _ABSENT else None

        return plain

    def guard(view: dict[str, Any]) -> Answer:
        raw = get(view)
        if raw is _ABSENT:
            return missing
        value = _transformed(raw, transform)
        if type(value) is not literal_type or (kind == "int" and not _int64(value)):
            return None
        return bool(test(value, literal))

    return guard


def truthy(path: tuple[str, ...]) -> Guard:
    """A bare `action.<path>` used as a condition: only a bool answers."""

    get, missing = getter(path), Missing(path)

    def guard(view: dict[str, Any]) -> Answer:
        value = get(view)
        if type(value) is bool:
            return value
        return missing if value is _ABSENT else None

    return guard


def negate(inner: Guard) -> Guard:
    """`!<conjunct>`."""

    def guard(view: dict[str, Any]) -> Answer:
        answer = inner(view)
        return answer if answer is None or isinstance(answer, Missing) else not answer

    return guard


def member_of(path: tuple[str, ...], items: frozenset[str]) -> Guard:
    """`action.<path> in ['a', 'b']` with string items."""

    get, missing = getter(path), Missing(path)

    def guard(view: dict[str, Any]) -> Answer:
        value = get(view)
        if type(value) is str:
            return value in items
        return missing if value is _ABSENT else None

    return guard


def list_has(path: tuple[str, ...], literal: Any) -> Guard | None:
    """`literal in action.<path>` and `action.<path>.exists(v, v == literal)`."""
    kind = KIND.get(type(literal))
    if kind is None:
        return None

    def guard(view: dict[str, Any]) -> Answer:
        value = lookup(view, path)
        if type(value) is not list or any(KIND.get(type(v)) != kind for v in value):
            return None
        return literal in value

    return guard


def string_method(path: tuple[str, ...], method: str, argument: str) -> Guard:
    """`action.<path>.contains('x')`, `.startsWith('x')`, `.endsWith('x')`."""
    fn = _STRING_METHODS[method]

    def guard(view: dict[str, Any]) -> Answer:
        value = lookup(view, path)
        return fn(value, argument) if type(value) is str else None

    return guard


def matches(path: tuple[str, ...], pattern: str) -> Guard:
    """`action.<path>.matches('re')`: RE2 search, exactly as cel-python. Raises ValueError for a
    pattern RE2 rejects, so that the rule fails loading instead of failing open forever."""
    try:
        search = re2.compile(pattern).search
    except re2.error as e:
        raise ValueError(str(e)) from None

    def guard(view: dict[str, Any]) -> Answer:
        value = lookup(view, path)
        return (search(value) is not None) if type(value) is str else None

    return guard


def has(path: tuple[str, ...]) -> Guard:
    """`has(action.<path>)`: the last key is present in its (map) parent."""
    parent, key = path[:-1], path[-1]

    def guard(view: dict[str, Any]) -> Answer:
        container = lookup(view, parent)
        return (key in container) if type(container) is dict else None

    return guard


def all_of(parts: list[Guard | None]) -> Guard | None:
    """`a && b && ...` with CEL's commutative error rule: False if any part is False; otherwise
    unsure if any part is; otherwise a `Missing` (an error) if any part errs; else True."""
    return _chain(parts, decisive=False)


def any_of(parts: list[Guard | None]) -> Guard | None:
    """`a || b || ...`: True if any part is True; otherwise unsure if any part is; otherwise a
    `Missing` (an error) if any part errs; else False."""
    return _chain(parts, decisive=True)


def _chain(parts: list[Guard | None], decisive: bool) -> Guard | None:
    """A chain of one operator: `decisive` is the operand value that decides it (False for `&&`)."""
    known = [p for p in parts if p is not None]
    if not known:
        return None
    complete = len(known) == len(parts)

    def guard(view: dict[str, Any]) -> Answer:
        decided, error = complete, None
        for part in known:
            answer = part(view)
            if answer is decisive:
                return decisive
            if answer is None:
                decided = False
            elif isinstance(answer, Missing):
                error = error or answer
        if not decided:
            return None
        return error or (not decisive)

    return guard
