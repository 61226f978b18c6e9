"""Unknown params: accepted (clients send extras), but the result says so.

A misspelt param (`confidance`) used to vanish silently and the default was stored. The pipeline
now compares each request's top-level param names with the names its params model accepts (field
names and every alias) and adds a `warnings` list to a successful object result, one entry per
ignored param with the closest known name. It is done here, once, so every method (those added
later too) behaves the same. A params model with `extra="allow"` takes any key by design (for
example checkGuardrails merges extra keys into the evaluation context): nothing is ignored there.
If a result already has a `warnings` member of its own, the entries go to `paramWarnings` instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import AliasChoices, AliasPath, BaseModel


@cache
def known_names(model: type[BaseModel]) -> frozenset[str] | None:
    """Every top-level name `model` reads, or None when it accepts any key."""
    if model.model_config.get("extra") == "allow":
        return None
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(name)
        if info.alias:
            names.add(info.alias)
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
        for choice in choices:
            if isinstance(choice, str):
                names.add(choice)
            elif isinstance(choice, AliasPath) and choice.path and isinstance(choice.path[0], str):
                names.add(choice.path[0])
    return frozenset(names)


def _closest(name: str, known: frozenset[str]) -> str | None:
    by_lower = {k.lower(): k for k in sorted(known)}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def ignored(model: type[BaseModel], params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One warning per param name `model` does not read."""
    known = known_names(model)
    if known is None:
        return []
    out: list[dict[str, Any]] = []
    for name in params:
        if name in known:
            continue
        suggestion = _closest(name, known)
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        warning: dict[str, Any] = {
            "code": "unknown_param",
            "param": name,
            "message": f"unknown param {name!r} ignored{hint}",
        }
        if suggestion:
            warning["suggestion"] = suggestion
        out.append(warning)
    return out


def attach(result: Any, warnings: list[dict[str, Any]]) -> Any:
    """`result` with the warnings added (only an object result can carry them)."""
    if not warnings or not isinstance(result, dict):
        return result
    key = "paramWarnings" if "warnings" in result else "warnings"
    return {**result, key: warnings}
