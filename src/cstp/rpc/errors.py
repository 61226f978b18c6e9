"""RPC errors and the one table mapping domain exceptions to JSON-RPC codes.

Each `RpcError` subclass carries its `code` and default `message` as class attributes. Domain
exceptions know nothing of JSON-RPC, and this package knows nothing of them: the composition root
passes an `ErrorTable` (cstp's is `cstp.methods.errors.ERRORS`), and `to_rpc_error` walks the
exception's MRO through it. Anything unmapped is an internal error with a fixed message; the detail
goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

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


class Forbidden(RpcError):
    """The caller is authenticated but may not call this method; `data.reason` says why."""

    code = codes.FORBIDDEN
    message = "Forbidden"


class InternalError(RpcError):
    """The server failed; details are in the server log under the request id."""

    code = codes.INTERNAL_ERROR
    message = "Internal error"


class Unavailable(InternalError):
    """A dependency failed. The message is a fixed text and `data.component` names the dependency;
    what actually went wrong (a URL, a path, the driver's text) goes to the log only."""

    def __init__(self, message: str, component: str | None) -> None:
        super().__init__(message, {"component": component} if component else None)


# Exception class → the RpcError a client sees. Passed in by the composition root (`rpc` knows no
# domain); looked up along the exception's MRO, so the most specific entry wins.
ErrorTable = Mapping[type[BaseException], Callable[[Exception], RpcError]]


def to_rpc_error(exc: Exception, errors: ErrorTable) -> RpcError:
    """Map any exception raised by a handler to the RpcError the client sees.

    An internal error (-32603) never carries the exception's text to the client: the text goes to
    the log (with the request id the log formatter adds), the client gets the fixed message.
    """
    if isinstance(exc, RpcError):
        return exc
    for cls in type(exc).__mro__:
        converter = errors.get(cls)
        if converter is not None:
            result = converter(exc)
            if isinstance(result, InternalError):
                logger.warning(
                    "dependency failure: %s: %s",
                    type(exc).__name__,
                    exc,
                    extra={"component": (result.data or {}).get("component")},
                )
            return result
    logger.exception("unhandled error in method handler")
    return InternalError()
