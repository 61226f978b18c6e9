"""Static analysis of a parsed CEL condition: reject impossible names, derive native guards.

Why guards: cel-python's interpreter costs 50-300 µs per evaluation, which alone would blow the
sub-millisecond budget of `checkGuardrails` with a handful of CEL rules. So expressions are
answered, where possible, by native guards (`cel_guards`): comparisons of `action.f`,
`double(action.f)` or `size(action.f)` with a literal, `action.f in ['a', 'b']`, `'x' in action.f`,
`action.f.exists(v, v == 'x')`, `.contains()`, `.startsWith()`, `.endsWith()`, `.matches()` (RE2,
as in cel-python), `has(action.f)`, a bare `action.flag`, and `!` of any of these. `&&` and `||`
chains (parenthesised too) combine guards with CEL's commutative semantics:
`false && x` is false and `true || x` is true whatever `x` is, even an error, so one decided part
can decide the chain even when other parts are beyond the guards. Whatever the guards are unsure
about is left to CEL, so results equal running CEL on every call.

Why name checks: `action` holds a fixed set of keys (STANDARD_KEYS); anything else lives under
`action.context`. A reference to `action.confidnce` or a bare `stakes` could only ever fail open at
run time, so it is rejected when the rule is loaded.
"""

from __future__ import annotations

import re
from typing import Any

from lark import Token, Tree

from cstp.domain.guardrails import cel_guards as g
from cstp.domain.guardrails.cel_guards import Guard

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


class CelCheckError(ValueError):
    """The expression cannot work: an unknown variable or `action` field, or a bad regex."""


def analyse(ast: Tree[Any]) -> tuple[Guard | None, str, tuple[tuple[Guard | None, Tree[Any]], ...]]:
    """Check names; return the guard for the whole expression (None: CEL only), and the top-level
    chain ("and", "or" or "single") with each operand's own guard, so that when CEL must run it
    runs only on the operands the guards could not answer."""
    check_names(ast)
    root = _unwrap(ast)
    if root.data in ("conditionaland", "conditionalor") and len(root.children) == 2:
        operands = _chain(root, root.data, [])
        parts = tuple((_guard(n), n) for n in operands)
        combine = g.all_of if root.data == "conditionaland" else g.any_of
        mode = "and" if root.data == "conditionaland" else "or"
        return combine([guard for guard, _ in parts]), mode, parts
    return _guard(root), "single", ((None, root),)


def check_names(ast: Tree[Any]) -> None:
    """Raise CelCheckError for `action.<unknown>` and free variables (see the module docstring)."""
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
                raise CelCheckError(f"unknown variable {name!r}; fields live under 'action.'")
        elif node.data == "member_dot":
            base, name = _unwrap(node.children[0]), str(node.children[1])
            if _is_action(base) and name not in STANDARD_KEYS and name != "context":
                raise CelCheckError(
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


def _chain(node: Tree[Any], data: str, out: list[Tree[Any]]) -> list[Tree[Any]]:
    """The operands of a chain of `&&` (data="conditionaland") or `||`, parentheses included."""
    node = _unwrap(node)
    if node.data == data and len(node.children) == 2:
        for child in node.children:
            _chain(child, data, out)
    else:
        out.append(node)
    return out


def _guard(node: Tree[Any]) -> Guard | None:
    """A native check for `node`, or None when no part of it is simple enough."""
    node = _unwrap(node)
    kids = node.children
    if node.data in ("conditionaland", "conditionalor") and len(kids) == 2:
        parts = [_guard(n) for n in _chain(node, node.data, [])]
        return (g.all_of if node.data == "conditionaland" else g.any_of)(parts)
    if node.data == "unary" and len(kids) == 2 and _is_tree(kids[0], "unary_not"):
        inner = _guard(kids[1])
        return g.negate(inner) if inner is not None else None
    if node.data == "relation" and len(kids) == 2 and isinstance(kids[0], Tree):
        return _relation(kids[0], kids[1])
    if node.data == "member_dot_arg":
        return _method(node)
    if node.data == "ident_arg" and str(kids[0]) == "has":
        args = _args(node)
        path = _path(args[0]) if len(args) == 1 else None
        return g.has(path) if path else None
    path = _path(node)
    return g.truthy(path) if path else None


def _relation(rel: Tree[Any], right: Any) -> Guard | None:
    if rel.data not in _RELATIONS:
        return None
    op, left = _RELATIONS[rel.data], rel.children[0]
    if op == "in":
        path, items = _path(left), _string_list(right)
        if path and items is not None:
            return g.member_of(path, items)
        literal, path = _literal(left), _path(right)
        return g.list_has(path, literal[0]) if literal and path else None
    for a, b, o in ((left, right, op), (right, left, _FLIPPED[op])):
        operand, literal = _operand(a), _literal(b)
        if operand is not None and literal is not None:
            return g.compare(operand[0], operand[1], o, literal[0])
    return None


def _method(node: Tree[Any]) -> Guard | None:
    """`action.f.contains('x')` and friends, and `action.f.exists(v, v == 'x')`."""
    path, method, args = _path(node.children[0]), str(node.children[1]), _args(node)
    if not path:
        return None
    if method in g.STRING_METHODS and len(args) == 1:
        literal = _literal(args[0])
        if not literal or type(literal[0]) is not str:
            return None
        if method != "matches":
            return g.string_method(path, method, literal[0])
        try:
            return g.matches(path, literal[0])
        except ValueError as e:
            raise CelCheckError(f"invalid regular expression {literal[0]!r}: {e}") from None
    if method == "exists" and len(args) == 2:
        var, body = _unwrap(args[0]), _unwrap(args[1])
        if var.data != "ident" or body.data != "relation" or len(body.children) != 2:
            return None
        rel = body.children[0]
        if not _is_tree(rel, "relation_eq"):
            return None
        for a, b in ((rel.children[0], body.children[1]), (body.children[1], rel.children[0])):
            side, literal = _unwrap(a), _literal(b)
            if side.data == "ident" and side.children == var.children and literal:
                return g.list_has(path, literal[0])
    return None


def _args(node: Tree[Any]) -> list[Any]:
    last = node.children[-1]
    return list(last.children) if _is_tree(last, "exprlist") else []


def _is_tree(node: Any, data: str) -> bool:
    return isinstance(node, Tree) and node.data == data


def _path(node: Any) -> tuple[str, ...] | None:
    """`action.a.b` → ("a", "b"); None for anything else."""
    if not isinstance(node, Tree):
        return None
    node = _unwrap(node)
    if node.data != "member_dot":
        return None
    if _is_action(_unwrap(node.children[0])):
        return (str(node.children[1]),)
    base = _path(node.children[0])
    return (*base, str(node.children[1])) if base else None


def _operand(node: Any) -> tuple[tuple[str, ...], str | None] | None:
    """A field path, bare or inside `double(...)`, `size(...)` or `.size()`."""
    if not isinstance(node, Tree):
        return None
    node = _unwrap(node)
    if node.data == "ident_arg" and str(node.children[0]) in ("double", "size"):
        args = _args(node)
        path = _path(args[0]) if len(args) == 1 else None
        return (path, str(node.children[0])) if path else None
    if node.data == "member_dot_arg" and str(node.children[1]) == "size" and not _args(node):
        path = _path(node.children[0])
        return (path, "size") if path else None
    path = _path(node)
    return (path, None) if path else None


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
    if tok.type == "STRING_LIT" and text[:1] in "rR":  # raw: no escapes to interpret
        return (text[2:-1],)
    if tok.type == "STRING_LIT" and "\\" not in text:
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
