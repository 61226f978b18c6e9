"""Load-time checks of a CEL condition that the CEL engine does not make.

The engine compiles without a type environment, so an expression that can only ever fail at run
time (and so fail open, forever) would load. Three such mistakes are caught here instead:

- a variable other than `action` (`stakes == 'high'`): the engine lists the variables it reads;
- an `action.<field>` that is not in STANDARD_KEYS (`action.confidnce`): caller-supplied keys live
  under `action.context`;
- a literal regular expression the engine rejects (`.matches('(')`): the engine checks a pattern
  only when it runs, so each literal pattern is tried once, by the engine itself, at load time.

The engine exposes no syntax tree, so the member and regex checks read the token stream. The
expression has already compiled, so the tokenizer only needs to split valid CEL correctly: string
and bytes literals (quoted, triple-quoted, raw), identifiers, numbers and single punctuation marks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import cel

from cstp.domain.guardrails.action import STANDARD_KEYS

_MACROS = frozenset({"exists", "all", "exists_one", "map", "filter"})
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)
_RAW = r"(?:[bB]?[rR]|[rR][bB])"
_TOKEN = re.compile(
    rf"""
    (?P<space>\s+|//[^\n]*)
  | (?P<string>{_RAW}'''.*?'''|{_RAW}\"\"\".*?\"\"\"|{_RAW}'[^'\n]*'|{_RAW}"[^"\n]*"
      |[bB]?'''(?:\\.|[^\\])*?'''|[bB]?\"\"\"(?:\\.|[^\\])*?\"\"\"
      |[bB]?'(?:\\.|[^\\'\n])*'|[bB]?"(?:\\.|[^\\"\n])*")
  | (?P<ident>[_a-zA-Z][_a-zA-Z0-9]*|`[^`]*`)
  | (?P<number>0[xX][0-9a-fA-F]+[uU]?|(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?[uU]?)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def check_expression(text: str, variables: Iterable[str]) -> str | None:
    """What is wrong with `text` (already compiled; `variables` as the engine lists them), or None."""
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(text) if m.lastgroup != "space"]
    bound = {
        tokens[i + 3][1]
        for i in range(len(tokens) - 4)
        if tokens[i][1] == "."
        and tokens[i + 1][1] in _MACROS
        and tokens[i + 2][1] == "("
        and tokens[i + 3][0] == "ident"
        and tokens[i + 4][1] == ","
    }
    for name in variables:
        if name != "action" and name not in bound and name not in _TYPE_NAMES:
            return f"unknown variable {name!r}; fields live under 'action.'"
    for i, (kind, value) in enumerate(tokens):
        if kind == "ident" and value == "action" and (i == 0 or tokens[i - 1][1] != "."):
            member = tokens[i + 1 : i + 4]
            if len(member) >= 2 and member[0][1] == "." and member[1][0] == "ident":
                name = member[1][1].strip("`")
                is_call = len(member) == 3 and member[2][1] == "("
                if not is_call and name not in STANDARD_KEYS and name != "context":
                    return f"unknown field action.{name}; caller-supplied keys are action.context.{name}"
        elif value == "matches" and i > 0 and tokens[i - 1][1] == ".":
            problem = _check_pattern(tokens[i + 1 : i + 4])
            if problem is not None:
                return problem
    return None


def _check_pattern(call: list[tuple[str | None, str]]) -> str | None:
    """`.matches('<literal>')`: the engine's verdict on the pattern, or None if it is not a literal
    string (a computed pattern can only be checked when it runs)."""
    if [v for _, v in call[::2]] != ["(", ")"] or call[1][0] != "string" or call[1][1][0] in "bB":
        return None
    literal = call[1][1]
    try:
        cel.evaluate(f"''.matches({literal})")
    except Exception as e:  # the engine reports a bad pattern as a RuntimeError
        lines = [line.strip() for line in str(e).splitlines() if line.strip().startswith("error:")]
        reason = lines[-1].removeprefix("error:") if lines else " ".join(str(e).split())
        reason = reason.removesuffix(" Check function arguments and their types.").strip()
        return f"invalid regular expression {literal}: {reason}"
    return None
