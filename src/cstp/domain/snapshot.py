"""Backup and restore of everything a server stores, collection by collection, vectors included.

A store keeps its state in named collections ("kinds": `records`, one index per embedding space,
`edges`, and whatever else a feature adds). A backup copies every kind item by item — id,
metadata, stored vector and document — without knowing what the items mean, so a kind added later
(tracker or breaker state) is backed up and restored with no change here. Restoring writes the
items back verbatim; stored vectors are restored as they were, so query rankings after a restore
are the ones before it.

Consistency while clients keep writing: the kinds are read one after the other, `records` last.
Anything another kind refers to (an edge's decisions, an index entry's record) existed before the
records were read, so it is in the backup. An index entry read before its record changed carries
an older `rev` than the record; `BackupService.finish` (after a restore) runs the decision
service's reconcile, which re-embeds exactly those entries. Records are never deleted, and offset
paging in store order sees every record that existed when reading began.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cstp.domain.decisions import DecisionService

RECORDS_KIND = "records"


@dataclass(frozen=True, slots=True)
class RawItem:
    """One stored item of a collection, exactly as kept."""

    id: str
    metadata: dict[str, Any]
    vector: list[float] | None
    document: str | None = None


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """A collection of the store: its kind (name without the deployment prefix), its collection
    metadata (e.g. the distance function) and how many items it holds."""

    kind: str
    metadata: dict[str, Any] | None
    count: int


class Snapshots(Protocol):
    """Raw access to every collection of one store (implemented by `adapters.chroma.snapshot`)."""

    def collections(self) -> list[CollectionInfo]:
        """Every collection of this deployment (its prefix), in no particular order."""
        ...

    def read(self, kind: str, offset: int, limit: int) -> list[RawItem]:
        """Up to `limit` items of `kind` from `offset`, in store (insertion) order.

        Raises InvalidInput (field `kind`) when this deployment has no such collection."""
        ...

    def write(self, kind: str, metadata: dict[str, Any] | None, items: Sequence[RawItem]) -> None:
        """Upsert `items` into `kind`, creating it with `metadata` if missing. Durable on return."""
        ...


class BackupService:
    """Reads and writes snapshot pages; finishes a restore by reconciling the decision index."""

    def __init__(self, snapshots: Snapshots, decisions: DecisionService) -> None:
        self._snapshots = snapshots
        self._decisions = decisions

    def collections(self) -> list[CollectionInfo]:
        """Every collection in backup order: other kinds by name, then `records` last (see the
        module docstring for why that order makes the snapshot consistent)."""
        found = self._snapshots.collections()
        return sorted(found, key=lambda c: (c.kind == RECORDS_KIND, c.kind))

    def read(self, kind: str, offset: int, limit: int) -> list[RawItem]:
        return self._snapshots.read(kind, offset, limit)

    def write(self, kind: str, metadata: dict[str, Any] | None, items: Sequence[RawItem]) -> None:
        self._snapshots.write(kind, metadata, items)

    def finish(self) -> int:
        """After a restore: re-embed index entries older than their records; returns how many."""
        return self._decisions.reconcile()
