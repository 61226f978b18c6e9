"""The protocol's raw decision record (snake_case JSON), derived from the `Decision` declaration.

This is the shape every store keeps and `cstp.getDecision` returns (protocol notes section 3). The
key set and each key's conversion come from `dataclasses.fields(Decision)` and `fields(Review)` and
their type hints: a field added to the dataclass is stored, read back and returned with no edit
here. Rules: a field that is None or an empty tuple is left out; `summary` repeats `decision` (the
reference's clients read either); the review's fields sit at top level; keys the dataclasses do not
declare are kept verbatim in `details` and written back, but never over a declared key (a stale copy
in `details` can therefore not overwrite a fresh typed value).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cstp.domain.records import Decision, Reason, Review

Convert = Callable[[Any], Any]

_NESTED = ("details", "review")  # Decision fields that are not single record keys
ALIASES = ("summary",)  # record keys that repeat a field (summary = decision)


def _decoder(hint: Any) -> Convert:
    """How a JSON value becomes the field's Python value, from the field's type hint."""
    base = hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # `X | None`: convert as X
        (base,) = (a for a in typing.get_args(hint) if a is not type(None))
    if base is datetime:
        return datetime.fromisoformat
    if base is float:
        return float
    if base is int:
        return int
    if typing.get_origin(base) is tuple:
        (item, _) = typing.get_args(base)
        if item is Reason:
            return lambda rs: tuple(
                Reason(r["type"], r["text"], float(r.get("strength", 0.8))) for r in rs or ()
            )
        return lambda xs: tuple(xs or ())
    return lambda v: v


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [dataclasses.asdict(v) if isinstance(v, Reason) else v for v in value]
    return value


def _fields(cls: type) -> dict[str, Convert]:
    hints = typing.get_type_hints(cls)
    return {f.name: _decoder(hints[f.name]) for f in dataclasses.fields(cls) if f.name not in _NESTED}


_DECISION = _fields(Decision)
_REVIEW = _fields(Review)
KNOWN_KEYS: frozenset[str] = frozenset(_DECISION) | frozenset(_REVIEW) | frozenset(ALIASES)


def to_record(d: Decision) -> dict[str, Any]:
    """The decision as the protocol's raw record (id first, rev last, as the reference writes it)."""
    rec: dict[str, Any] = {"id": d.id, "summary": d.decision}
    for name in _DECISION:
        value = getattr(d, name)
        if value is not None and value != () and name not in ("id", "rev"):
            rec[name] = _encode(value)
    rec.update((k, v) for k, v in d.details.items() if k not in KNOWN_KEYS)
    if d.review is not None:
        for name in _REVIEW:
            value = getattr(d.review, name)
            if value is not None:
                rec[name] = _encode(value)
    rec["rev"] = d.rev
    return rec


def from_record(rec: dict[str, Any]) -> Decision:
    """Inverse of `to_record`; also reads the reference server's records (missing keys default)."""
    values = {name: convert(rec[name]) for name, convert in _DECISION.items() if rec.get(name) is not None}
    review = None
    if rec.get("outcome"):
        review_values = {n: c(rec[n]) for n, c in _REVIEW.items() if rec.get(n) is not None}
        review_values.setdefault("reviewed_by", "")
        review = Review(**review_values)
    details = {k: v for k, v in rec.items() if k not in KNOWN_KEYS}
    return Decision(**values, review=review, details=details)
