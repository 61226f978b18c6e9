"""The method table: an explicit mapping from method name to spec. Nothing registers at import."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class MethodSpec(Generic[P, R]):
    """One JSON-RPC method.

    `params` validates and converts the request's named params (aliases for camelCase and the
    snake_case that real clients send live on the model). `handler(params, ctx)` returns an instance
    of `result`, which the pipeline sends as `model_dump(by_alias=True, exclude_unset=True)`: a key
    the handler did not set is absent from the reply, one it set to None is `null`. The handler may
    raise domain errors (`errors` lists the ones it documents), which the error table maps to codes.
    `ctx` is whatever the transport passes to `dispatch` (the web layer passes the authenticated
    agent and request id).

    `blocking=False` promises that the handler does no I/O and returns in well under a millisecond
    (no store, no embedder, no lock held by one): the web layer may then run it on the event loop
    instead of paying a hop to a worker thread. A handler that can wait on a dependency must keep
    the default, or it stalls every other request.
    """

    name: str
    params: type[P]
    handler: Callable[[P, Any], R]
    result: type[R] | None = None
    summary: str = ""
    errors: tuple[type[Exception], ...] = ()
    blocking: bool = True


MethodTable = Mapping[str, MethodSpec[Any, Any]]


def method_table(*groups: Iterable[MethodSpec[Any, Any]]) -> dict[str, MethodSpec[Any, Any]]:
    """Merge method groups into one table keyed by name, refusing duplicates (a programming error)."""
    table: dict[str, MethodSpec[Any, Any]] = {}
    for group in groups:
        for spec in group:
            if spec.name in table:
                raise ValueError(f"method {spec.name} registered twice")
            table[spec.name] = spec
    return table
