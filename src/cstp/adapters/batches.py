"""Helpers every store adapter shares: one item per id in a write batch, newest-first ordering."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from cstp.domain.ports import Vector
from cstp.domain.records import Decision, aware

VectorT = TypeVar("VectorT", Vector, Vector | None)


def last_per_id(items: Sequence[tuple[Decision, VectorT]]) -> list[tuple[Decision, VectorT]]:
    """One item per id, the last one winning, as an upsert of the whole batch would (and Chroma
    rejects duplicate ids in one call)."""
    return list({d.id: (d, v) for d, v in items}.values())


def newest_first(decisions: Sequence[Decision]) -> list[Decision]:
    """Newest date first; equal dates by ascending id (two stable sorts). Every store lists so."""
    by_id = sorted(decisions, key=lambda d: d.id)
    return sorted(by_id, key=lambda d: aware(d.date), reverse=True)
