"""BackupService: the backup order that keeps a snapshot consistent, and the restore's repair."""

from __future__ import annotations

from typing import Any

from cstp.adapters.memory_store import MemoryStore
from cstp.domain.decisions import DecisionService
from cstp.domain.snapshot import BackupService, CollectionInfo, RawItem
from tests.fakes import HashEmbedder


class FakeSnapshots:
    def __init__(self, kinds: list[str]) -> None:
        self.kinds = kinds
        self.written: list[tuple[str, list[RawItem]]] = []

    def collections(self) -> list[CollectionInfo]:
        return [CollectionInfo(k, None, 0) for k in self.kinds]

    def read(self, kind: str, offset: int, limit: int) -> list[RawItem]:
        return []

    def write(self, kind: str, metadata: dict[str, Any] | None, items: Any) -> None:
        self.written.append((kind, list(items)))


def _service() -> DecisionService:
    return DecisionService(MemoryStore(HashEmbedder.space), HashEmbedder())


def test_records_are_read_last_and_the_rest_by_name() -> None:
    snaps = FakeSnapshots(["records", "test-hash-384", "breakers", "edges"])
    order = [c.kind for c in BackupService(snaps, _service()).collections()]
    assert order == ["breakers", "edges", "test-hash-384", "records"]
