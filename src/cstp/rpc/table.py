"""The method table: an explicit mapping from method name to spec. Nothing registers at import."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

Handler = Callable[[Any, Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """One JSON-RPC method.

    `params` validates and converts the request's named params (aliases for camelCase and the
    snake_case that real clients send live on the model). `handler(params, ctx)` returns the result
    object; it may raise domain errors, which `rpc.errors` maps to codes. `ctx` is whatever the
    transport passes to `dispatch` (the web layer passes the authenticated agent and request id).
    """

    name: str
    params: type[BaseModel]
    handler: Handler
    summary: str = ""
    tags: tuple[str, ...] = field(default=())


MethodTable = Mapping[str, MethodSpec]


def merge(*groups: Mapping[str, MethodSpec]) -> dict[str, MethodSpec]:
    """Merge method groups, refusing duplicate names (a programming error)."""
    table: dict[str, MethodSpec] = {}
    for group in groups:
        for name, spec in group.items():
            if name in table:
                raise ValueError(f"method {name} registered twice")
            if name != spec.name:
                raise ValueError(f"method key {name} does not match spec name {spec.name}")
            table[name] = spec
    return table
