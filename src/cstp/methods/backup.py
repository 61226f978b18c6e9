"""cstp.backupCollections, cstp.backupRead, cstp.restoreWrite, cstp.restoreFinish (admin only).

The wire side of `domain.snapshot`: `cstp backup` lists the collections, reads each page by page
and writes them to files; `cstp restore` writes the pages back and finishes with a reconcile.
Vectors travel as base64 of little-endian float32, the precision Chroma stores, so they come back
bit for bit (a JSON decimal list would be four times larger and needs care to round-trip).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cstp.domain.errors import InvalidInput, NotAllowed, StoreUnavailable
from cstp.domain.snapshot import BackupService, RawItem
from cstp.methods.context import CallContext
from cstp.methods.transfer import require_admin
from cstp.methods.wire import Int, Params, Result
from cstp.rpc.table import MethodSpec

PAGE_MAX = 5000
Kind = str


def encode_vector(vector: list[float] | None) -> str | None:
    if vector is None:
        return None
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise InvalidInput("vector must be base64 of float32 values", field="items.vector") from None
    if len(raw) % 4:
        raise InvalidInput("vector must be base64 of float32 values", field="items.vector")
    return [float(x) for x in np.frombuffer(raw, dtype="<f4")]


def _backup(ctx: CallContext, method: str) -> BackupService:
    require_admin(ctx, method)
    if ctx.services.backup is None:
        raise InvalidInput("this server's store does not support backups (it is not Chroma)")
    return ctx.services.backup


class NoParams(Params):
    pass


class CollectionOut(Result):
    kind: str
    metadata: dict[str, Any] | None
    count: int


class CollectionsResult(Result):
    collections: list[CollectionOut]


def backup_collections(p: NoParams, ctx: CallContext) -> CollectionsResult:
    found = _backup(ctx, "cstp.backupCollections").collections()
    return CollectionsResult(
        collections=[CollectionOut(kind=c.kind, metadata=c.metadata, count=c.count) for c in found]
    )


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, max_length=1024)
    metadata: dict[str, Any] = Field(default_factory=dict)
    vector: str | None = None
    document: str | None = None


class ReadParams(Params):
    kind: Kind = Field(min_length=1, max_length=200)
    offset: Int = Field(default=0, ge=0)
    limit: Int = Field(default=1000, ge=1, le=PAGE_MAX)


class ReadResult(Result):
    kind: str
    items: list[Item]
    next_offset: int | None = Field(serialization_alias="nextOffset")


def backup_read(p: ReadParams, ctx: CallContext) -> ReadResult:
    items = _backup(ctx, "cstp.backupRead").read(p.kind, p.offset, p.limit)
    return ReadResult(
        kind=p.kind,
        items=[
            Item(id=i.id, metadata=i.metadata, vector=encode_vector(i.vector), document=i.document)
            for i in items
        ],
        next_offset=p.offset + len(items) if len(items) == p.limit else None,
    )


class WriteParams(Params):
    kind: Kind = Field(min_length=1, max_length=200)
    metadata: dict[str, Any] | None = None  # the collection's (e.g. its distance function)
    items: list[Item] = Field(max_length=PAGE_MAX)


class WriteResult(Result):
    kind: str
    written: int


def restore_write(p: WriteParams, ctx: CallContext) -> WriteResult:
    service = _backup(ctx, "cstp.restoreWrite")
    items = [RawItem(i.id, dict(i.metadata), decode_vector(i.vector), i.document) for i in p.items]
    service.write(p.kind, p.metadata, items)
    return WriteResult(kind=p.kind, written=len(items))


class FinishResult(Result):
    reindexed: int


def restore_finish(p: NoParams, ctx: CallContext) -> FinishResult:
    return FinishResult(reindexed=_backup(ctx, "cstp.restoreFinish").finish())


_ERRORS = (NotAllowed, InvalidInput, StoreUnavailable)
METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.backupCollections",
        NoParams,
        backup_collections,
        result=CollectionsResult,
        summary="Every stored collection in backup order, with its size (admin)",
        errors=_ERRORS,
    ),
    MethodSpec(
        "cstp.backupRead",
        ReadParams,
        backup_read,
        result=ReadResult,
        summary="One page of a collection's raw items, vectors included (admin)",
        errors=_ERRORS,
    ),
    MethodSpec(
        "cstp.restoreWrite",
        WriteParams,
        restore_write,
        result=WriteResult,
        summary="Write raw items back into a collection (admin)",
        errors=_ERRORS,
    ),
    MethodSpec(
        "cstp.restoreFinish",
        NoParams,
        restore_finish,
        result=FinishResult,
        summary="After a restore: re-embed index entries older than their records (admin)",
        errors=_ERRORS,
    ),
)
