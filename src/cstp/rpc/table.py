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

    `blocking=False` says that the handler answers from memory in well under a millisecond: the
    web layer then tries it on the event loop instead of paying a hop to a worker thread. Where
    it would still wait on a dependency (rarely: the transport's `answering_inline` contract),
    it must stop before the wait, and the web layer runs it again on a worker thread.
    `inline_if(params)` (the request's raw params) makes the same offer for some calls of a
    blocking method (list-mode queries, answered from memory; other modes embed and search).
    A handler that waits on a dependency without that contract must keep the default, or it
    stalls every other request.
    """

    name: str
    params: type[P]
    handler: Callable[[P, Any], R]
    result: type[R] | None = None
    summary: str = ""
    errors: tuple[type[Exception], ...] = ()
    blocking: bool = True
    inline_if: Callable[[Any], bool] | None = None


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
