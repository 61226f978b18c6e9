"""What JSON may carry in, and what a reply may carry out, checked once at the edge for every method.

JSON's grammar admits values that Python, the store or the encoder cannot keep faithfully: a
`"\\ud800"` escape decodes to a lone UTF-16 surrogate (not Unicode: it cannot be encoded as UTF-8,
so Chroma refuses it and a later reply containing it could not be sent), `1e400` overflows to
infinity, `1.0e-400` underflows to 0, and Python's own decoder also accepts the non-JSON literals
`NaN` and `Infinity`. A value like that, once stored, would break every later read that includes
it. So the pipeline decodes with `decode` (strict UTF-8, `NaN`/`Infinity` refused as parse errors,
numbers that do not survive the round trip marked as `InexactFloat`) and runs `check` over every
request's params before any method sees them: lone surrogates, non-finite numbers, nesting deeper
than `MAX_DEPTH` and strings longer than `MAX_STRING` are invalid params naming the field. Methods
added later get the same protection without doing anything.

`encode` is the output guard: a reply is always valid JSON in valid UTF-8, even if a handler
returned a non-finite float (it becomes null, and the log says so).
"""

from __future__ import annotations

import json
import logging
import math
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import orjson

logger = logging.getLogger("cstp.rpc")

MAX_DEPTH: Final = 32  # nesting of objects and arrays inside params
MAX_STRING: Final = 100_000  # characters in one string value or key inside params
_BOM: Final = "\ufeff"


class InexactFloat(float):
    """A JSON number whose float value is not the number the client wrote (overflow to infinity,
    underflow to zero, or digits beyond double precision). It is a float everywhere; an id that is
    one cannot be echoed exactly, and one that is not finite is refused in params."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, value: float, text: str) -> InexactFloat:
        obj = super().__new__(cls, value)
        obj.text = text
        return obj


class BadJson(ValueError):
    """The body is not JSON the pipeline accepts (the message is the client-facing reason)."""


class BadValue(ValueError):
    """A value inside params the server cannot keep; `field` is its dotted path."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _float(text: str) -> float:
    value = float(text)
    if math.isfinite(value):
        shown = repr(value)
        if shown == text:
            return value
        try:
            if Decimal(shown) == Decimal(text):
                return value
        except InvalidOperation:  # pragma: no cover - the scanner only passes JSON numbers
            pass
    return InexactFloat(value, text)


def _constant(name: str) -> Any:
    raise BadJson(f"{name} is not JSON")


_DECODER: Final = json.JSONDecoder(parse_float=_float, parse_constant=_constant)


def decode(body: bytes) -> Any:
    """Strict UTF-8 JSON; a leading byte-order mark is ignored (RFC 8259 §8.1 allows it).

    Raises BadJson (or RecursionError for nesting deeper than the parser's limit)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadJson("body is not valid UTF-8") from None
    if text.startswith(_BOM):
        text = text[1:]
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError:
        raise BadJson("invalid JSON") from None


def has_surrogate(s: str) -> bool:
    if s.isascii():
        return False
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _segment(key: object) -> str:
    text = str(key)
    return ascii(text)[1:-1] if has_surrogate(text) else text


def _join(path: tuple[object, ...]) -> str:
    return ".".join(_segment(p) for p in path) or "params"


def _string_problem(s: str) -> str | None:
    if len(s) > MAX_STRING:
        return f"string longer than {MAX_STRING} characters"
    if has_surrogate(s):
        return "contains a lone UTF-16 surrogate (not valid Unicode)"
    return None


def check(params: Any) -> None:
    """Raise BadValue for the first value in `params` the server cannot keep (see module doc).

    Iterative, so a deeply nested value costs no recursion; each value is visited once."""
    stack: list[tuple[tuple[object, ...], Any]] = [((), params)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = _string_problem(value)
            if problem:
                raise BadValue(_join(path), problem)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise BadValue(_join(path), "number out of range (must be finite)")
        elif isinstance(value, dict | list):
            if len(path) >= MAX_DEPTH:
                raise BadValue(_join(path), f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(value, dict):
                for key, item in value.items():
                    problem = _string_problem(key)
                    if problem:
                        raise BadValue(_join((*path, key)), f"key {problem}")
                    stack.append(((*path, key), item))
            else:
                stack.extend(((*path, i), item) for i, item in enumerate(value))


def exact_id(value: Any) -> bool:
    """Whether an id can be echoed as the client sent it."""
    if isinstance(value, str):
        return not has_surrogate(value)
    return not isinstance(value, InexactFloat)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class RawJson:
    """JSON text a handler already holds (an export's stored record), sent inside a reply as the
    value it encodes: not parsed and encoded again. Only for text known to be one JSON value."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"RawJson({self.text[:40]!r})"


class _HoldsRaw(Exception):
    """Raised out of `json.dumps` at the first RawJson: that reply takes the orjson path."""


def _default(value: Any) -> Any:
    if isinstance(value, RawJson):
        raise _HoldsRaw
    return str(value)


def _spliced(value: Any) -> Any:
    if isinstance(value, RawJson):
        return orjson.Fragment(value.text)
    return str(value)


def _parsed(value: Any) -> Any:
    if isinstance(value, RawJson):
        return json.loads(value.text)
    if isinstance(value, dict):
        return {k: _parsed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_parsed(v) for v in value]
    return value


def encode(obj: Any) -> bytes:
    """The reply as UTF-8 JSON. Never NaN/Infinity (null instead, logged as a bug), never a lone
    surrogate as raw bytes (escaped as \\uXXXX, which is valid JSON).

    A reply holding `RawJson` is written by orjson, which splices each text in as it is (the
    `json` module cannot); orjson also writes a non-finite float as null, without the log line.
    What orjson refuses (an integer beyond 64 bits, a lone surrogate, a key that is not a string)
    goes the `json` way with the raw texts parsed.
    """
    try:
        return _encode_json(obj)
    except _HoldsRaw:
        pass
    try:
        return orjson.dumps(obj, default=_spliced)
    except orjson.JSONEncodeError:
        return _encode_json(_parsed(obj))


def _encode_json(obj: Any) -> bytes:
    try:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_default, allow_nan=False)
    except ValueError:
        logger.error("a reply held a non-finite number; sent as null")
        obj = _finite(obj)
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_default, allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":"), default=_default, allow_nan=False).encode("ascii")
