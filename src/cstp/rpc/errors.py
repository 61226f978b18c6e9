"""RPC errors and the one table mapping domain exceptions to JSON-RPC codes.

Each `RpcError` subclass carries its `code` and default `message` as class attributes. Domain
exceptions know nothing of JSON-RPC: `to_rpc_error` walks the exception's MRO through
`DOMAIN_ERRORS`. Anything unmapped is an internal error with a fixed message; the detail goes to the
log, never to the client.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from cstp.domain import errors as domain
from cstp.rpc import codes

logger = logging.getLogger("cstp.rpc")


class RpcError(Exception):
    """An error that becomes a JSON-RPC error object."""

    code: ClassVar[int] = codes.INTERNAL_ERROR
    message: ClassVar[str] = "Internal error"

    def __init__(self, message: str | None = None, data: Any = None) -> None:
        super().__init__(message or self.message)
        self.text = message or self.message
        self.data = data

    def to_wire(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.text}
        if self.data is not None:
            err["data"] = self.data
        return err


class ParseError(RpcError):
    """The body is not valid JSON."""

    code = codes.PARSE_ERROR
    message = "Parse error: invalid JSON"


class InvalidRequest(RpcError):
    """The JSON is not a valid JSON-RPC 2.0 request object."""

    code = codes.INVALID_REQUEST
    message = "Invalid Request"


class MethodNotFound(RpcError):
    """No method with that name is registered."""

    code = codes.METHOD_NOT_FOUND
    message = "Method not found"


class InvalidParams(RpcError):
    """The params do not fit the method; `data` names the offending fields."""

    code = codes.INVALID_PARAMS
    message = "Invalid params"


class InternalError(RpcError):
    """The server failed; details are in the server log under the request id."""

    code = codes.INTERNAL_ERROR
    message = "Internal error"


def _invalid_input(e: Exception) -> RpcError:
    field = getattr(e, "field", None)
    return InvalidParams(str(e), {"field": field} if field else None)


def _not_found(e: Exception) -> RpcError:
    return InvalidParams(str(e), {"field": "id", "id": getattr(e, "decision_id", None)})


def _store_down(e: Exception) -> RpcError:
    return InternalError(f"Decision store unavailable: {e}", {"component": "store"})


def _embedder_down(e: Exception) -> RpcError:
    return InternalError(f"Embedding generation failed: {e}", {"component": "embedder"})


# Domain class → converter. Looked up along the MRO, so the most specific entry wins.
DOMAIN_ERRORS: dict[type[Exception], Any] = {
    domain.InvalidInput: _invalid_input,
    domain.DecisionNotFound: _not_found,
    domain.StoreUnavailable: _store_down,
    domain.EmbedderUnavailable: _embedder_down,
    domain.GuardrailError: lambda e: InternalError(f"Guardrails unavailable: {e}"),
    domain.ConfigError: lambda e: InternalError("Server misconfigured"),
    domain.Unavailable: lambda e: InternalError(f"Service unavailable: {e}"),
}


def to_rpc_error(exc: Exception) -> RpcError:
    """Map any exception raised by a handler to the RpcError the client sees."""
    if isinstance(exc, RpcError):
        return exc
    for cls in type(exc).__mro__:
        converter = DOMAIN_ERRORS.get(cls)
        if converter is not None:
            result: RpcError = converter(exc)
            if isinstance(result, InternalError):
                logger.warning("dependency failure: %s", exc)
            return result
    logger.exception("unhandled error in method handler")
    return InternalError()
