"""The one table mapping domain exceptions to the JSON-RPC errors clients see.

It lives with the wire adapters, not in `rpc/`: the pipeline knows no domain, and the composition
root hands this table to the dispatcher. The client-facing texts of dependency failures are fixed
(`UNAVAILABLE`, listed in docs/PROTOCOL.md, which a test keeps in step): a Chroma URL, a data
directory or a driver's message never reaches a client; `rpc.errors.to_rpc_error` logs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

from cstp.domain import errors as domain
from cstp.rpc import codes
from cstp.rpc.errors import ErrorTable, Forbidden, InternalError, InvalidParams, RpcError, Unavailable

# Unavailable subclass → (fixed message, data.component). Most specific first is not needed: the
# lookup walks each exception's MRO.
UNAVAILABLE: dict[type[domain.Unavailable], tuple[str, str | None]] = {
    domain.StoreUnavailable: ("Decision store unavailable", "store"),
    domain.EmbedderAuthError: ("Embedding service rejected the server's API key", "embedder"),
    domain.EmbedderUnavailable: ("Embedding service unavailable", "embedder"),
    domain.Unavailable: ("Service unavailable", None),
}


class Busy(RpcError):
    """A write refused by admission control (`domain.Busy`): the code of every other "cannot serve
    right now", a fixed text, `data.component` "writes" and `data.retryAfterMs`. Not an
    `InternalError`, so `to_rpc_error` does not log each refusal as a dependency failure (under
    overload there can be hundreds a second; `runtime.admission` logs them in summary)."""

    code: ClassVar[int] = codes.INTERNAL_ERROR
    message: ClassVar[str] = "Server busy: too many writes queued; retry later"


def _busy(e: Exception) -> RpcError:
    retry_after = float(getattr(e, "retry_after", 1.0))
    return Busy(None, {"component": "writes", "retryAfterMs": max(1, math.ceil(retry_after * 1000))})


def _invalid_input(e: Exception) -> RpcError:
    # The domain's InvalidInput text is written for callers (it names the field and the rule).
    field = getattr(e, "field", None)
    return InvalidParams(str(e), {"field": field} if field else None)


def _ambiguous(e: Exception) -> RpcError:
    assert isinstance(e, domain.AmbiguousId)
    data: dict[str, object] = {"field": "id", "candidates": list(e.candidates)}
    if e.more:
        data["more"] = True
    return InvalidParams(str(e), data)


def _not_found(e: Exception) -> RpcError:
    return InvalidParams(str(e), {"field": "id", "id": getattr(e, "decision_id", None)})


def _fixed(message: str, component: str | None) -> Callable[[Exception], RpcError]:
    return lambda e: Unavailable(message, component)


ERRORS: ErrorTable = {
    domain.InvalidInput: _invalid_input,
    domain.AmbiguousId: _ambiguous,
    domain.DecisionNotFound: _not_found,
    domain.NotAllowed: lambda e: Forbidden(str(e), {"reason": getattr(e, "reason", None)}),
    # A guardrail file broken at run time: the file and rule go to the log and to /ready.
    domain.GuardrailError: lambda e: InternalError("Guardrails unavailable"),
    domain.ConfigError: lambda e: InternalError("Server misconfigured"),
    domain.Busy: _busy,
    **{cls: _fixed(message, component) for cls, (message, component) in UNAVAILABLE.items()},
}
