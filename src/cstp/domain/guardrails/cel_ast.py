"""Static analysis of a parsed CEL condition: reject impossible names, derive native guards.

Why guards: cel-python's interpreter costs ~180 µs per evaluation, which alone would blow the
sub-millisecond budget of `checkGuardrails` with a few dozen CEL rules. So each expression's
top-level `&&` chain is split into conjuncts, and the simple ones (`action.f <op> literal`,
`double(action.f) <op> literal`, `action.f in ['a', 'b']`, `action.flag`, `!action.flag`) become
native *guards*. A guard answers True/False only when the operand types match exactly as CEL types
would (int with int, double with double, string with string, bool with bool); anything else is
"undecided" (None) and left to CEL. CEL's `&&` is commutative and `false && error == false`, so one
guard answering False decides the whole expression; when every conjunct is a guard and all answer
True, the expression is True. Results are therefore identical to running CEL on every call.

Why name checks: `action` holds a fixed set of keys (STANDARD_KEYS); anything else lives under
`action.context`. A reference to `action.confidnce` or a bare `stakes` could only ever fail open at
run time, so it is rejected when the rule is loaded.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from lark import Token, Tree

STANDARD_KEYS = frozenset(
    {
        "description",
        "stakes",
        "confidence",
        "category",
        "tags",
        "reason_count",
        "pattern",
        "quality_score",
        "has_tags",
        "has_pattern",
        "phase",
        "deliberation_inputs_count",
        "has_deliberation",
        "has_reasoning",
        "scope",
        "project",
    }
)
_MACROS = frozenset({"exists", "all", "exists_one", "map", "filter"})
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)
_WRAPPERS = frozenset(
    {
        "expr",
        "conditionalor",
        "conditionaland",
        "relation",
        "addition",
        "multiplication",
        "unary",
        "member",
        "primary",
        "paren_expr",
    }
)
_RELATIONS = {
    "relation_lt": "<",
    "relation_le": "<=",
    "relation_gt": ">",
    "relation_ge": ">=",
    "relation_eq": "==",
    "relation_ne": "!=",
    "relation_in": "in",
}
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
# Python type → CEL type family. Exact types only: subclasses (bool is an int!) stay undecided.
_KIND: dict[type, str] = {bool: "bool", int: "int", float: "double", str: "string"}
_INT64 = 2**63
_ABSENT = object()

Guard = Callable[[Mapping[str, Any]], bool | None]


class CelNameError(ValueError):
    """The expression names a variable or `action` field that can never exist."""


def analyse(ast: Tree[Any]) -> tuple[tuple[Guard, ...], bool]:
    """Check names, then return the guards and whether they cover every conjunct (exact)."""
    check_names(ast)
    conjuncts: list[Tree[Any]] = []
    _flatten(ast, conjuncts)
    guards = [g for g in (_guard(c) for c in conjuncts) if g is not None]
    return tuple(guards), len(guards) == len(conjuncts)


def check_names(ast: Tree[Any]) -> None:
    """Raise CelNameError for `action.<unknown>` and free variables (see the module docstring)."""
    bound: set[str] = set()
    for node in ast.iter_subtrees():
        if node.data == "member_dot_arg" and len(node.children) > 2:
            method, args = node.children[1], node.children[2]
            if str(method) in _MACROS and isinstance(args, Tree) and args.children:
                var = _unwrap(args.children[0])
                if var.data == "ident":
                    bound.add(str(var.children[0]))
    for node in ast.iter_subtrees():
        if node.data == "ident":
            name = str(node.children[0])
            if name != "action" and name not in bound and name not in _TYPE_NAMES:
                raise CelNameError(f"unknown variable {name!r}; fields live under 'action.'")
        elif node.data == "member_dot":
            base, name = _unwrap(node.children[0]), str(node.children[1])
            if _is_action(base) and name not in STANDARD_KEYS and name != "context":
                raise CelNameError(
                    f"unknown field action.{name}; caller-supplied keys are action.context.{name}"
                )


def _is_action(node: Tree[Any]) -> bool:
    return node.data == "ident" and str(node.children[0]) == "action"


def _unwrap(node: Tree[Any]) -> Tree[Any]:
    while node.data in _WRAPPERS and len(node.children) == 1:
        child = node.children[0]
        if not isinstance(child, Tree):
            break
        node = child
    return node


def _flatten(node: Tree[Any], out: list[Tree[Any]]) -> None:
    node = _unwrap(node)
    if node.data == "conditionaland" and len(node.children) == 2:
        for child in node.children:
            _flatten(child, out)
    else:
        out.append(node)


def _guard(node: Tree[Any]) -> Guard | None:
    """A native check for one conjunct, or None when the conjunct is not simple enough."""
    if node.data == "unary" and len(node.children) == 2:
        first = node.children[0]
        if isinstance(first, Tree) and first.data == "unary_not":
            path = _path(node.children[1])
            return _truthy(path, negate=True) if path else None
        return None
    if node.data == "relation" and len(node.children) == 2:
        rel = node.children[0]
        if not isinstance(rel, Tree) or rel.data not in _RELATIONS:
            return None
        op, left, right = _RELATIONS[rel.data], rel.children[0], node.children[1]
        if op == "in":
            path, items = _path(left), _string_list(right)
            return _member_of(path, items) if path and items is not None else None
        for a, b, o in ((left, right, op), (right, left, _FLIPPED[op])):
            operand, literal = _operand(a), _literal(b)
            if operand is not None and literal is not None:
                return _compare(operand[0], operand[1], o, literal[0])
        return None
    path = _path(node)
    return _truthy(path, negate=False) if path else None


def _path(node: Any) -> tuple[str, ...] | None:
    """`action.a.b` → ("a", "b"); None for anything else."""
    if not isinstance(node, Tree):
        return None
    node = _unwrap(node)
    if node.data == "member_dot":
        base = _path(node.children[0])
        if base is None:
            return _path_root(node)
        return (*base, str(node.children[1]))
    return None


def _path_root(node: Tree[Any]) -> tuple[str, ...] | None:
    return (str(node.children[1]),) if _is_action(_unwrap(node.children[0])) else None


def _operand(node: Any) -> tuple[tuple[str, ...], bool] | None:
    """A field path, possibly wrapped in `double(...)` (the bool says so)."""
    if not isinstance(node, Tree):
        return None
    node = _unwrap(node)
    if node.data == "ident_arg" and str(node.children[0]) == "double" and len(node.children) == 2:
        args = node.children[1]
        if isinstance(args, Tree) and len(args.children) == 1:
            inner = _path(args.children[0])
            return (inner, True) if inner else None
        return None
    path = _path(node)
    return (path, False) if path else None


def _literal(node: Any) -> tuple[Any] | None:
    """A simple literal as a 1-tuple (so that False and 0 are values), or None."""
    if not isinstance(node, Tree):
        return None
    node = _unwrap(node)
    if node.data != "literal" or not isinstance(node.children[0], Token):
        return None
    tok = node.children[0]
    text = str(tok)
    if tok.type == "INT_LIT" and re.fullmatch(r"-?\d+", text):
        return (int(text),)
    if tok.type == "FLOAT_LIT":
        return (float(text),)
    if tok.type == "BOOL_LIT":
        return (text == "true",)
    if tok.type == "STRING_LIT" and text[:1] in "'\"" and "\\" not in text:
        return (text[1:-1],)
    return None


def _string_list(node: Any) -> frozenset[str] | None:
    if not isinstance(node, Tree):
        return None
    node = _unwrap(node)
    if node.data != "list_lit" or len(node.children) != 1 or not isinstance(node.children[0], Tree):
        return None
    items = [_literal(child) for child in node.children[0].children]
    if any(i is None or type(i[0]) is not str for i in items):
        return None
    return frozenset(i[0] for i in items if i is not None)


def _lookup(view: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    cur: Any = view
    for key in path:
        if type(cur) is not dict:
            return _ABSENT
        cur = cur.get(key, _ABSENT)
    return cur


def _compare(path: tuple[str, ...], coerce: bool, op: str, literal: Any) -> Guard | None:
    kind = _KIND.get(type(literal))
    if kind is None or (kind == "bool" and op not in ("==", "!=")):
        return None
    if kind == "int" and not -_INT64 <= literal < _INT64:
        return None
    test = OPERATORS[op]

    def guard(view: Mapping[str, Any]) -> bool | None:
        value = _lookup(view, path)
        if coerce:
            if type(value) is int and -_INT64 <= value < _INT64:
                value = float(value)
            elif type(value) is not float:
                return None
        if _KIND.get(type(value)) != kind or (kind == "int" and not -_INT64 <= value < _INT64):
            return None
        return bool(test(value, literal))

    return guard


def _truthy(path: tuple[str, ...], *, negate: bool) -> Guard:
    def guard(view: Mapping[str, Any]) -> bool | None:
        value = _lookup(view, path)
        return (value is not negate) if type(value) is bool else None

    return guard


def _member_of(path: tuple[str, ...], items: frozenset[str]) -> Guard:
    def guard(view: Mapping[str, Any]) -> bool | None:
        value = _lookup(view, path)
        return (value in items) if type(value) is str else None

    return guard
