"""What every handler receives besides its params: the caller and the services."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Executor, Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TypeVar

from cstp.domain.browsing import BrowseService
from cstp.domain.decisions import DecisionService
from cstp.domain.graph import GraphService
from cstp.domain.guardrails import GuardrailService
from cstp.domain.search import SearchService
from cstp.domain.snapshot import BackupService
from cstp.domain.tracker import Tracker
from cstp.domain.transfer import TransferService
from cstp.runtime.admission import WriteAdmission
from cstp.runtime.snapshot import DigestCache

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Services:
    """Built once in the app's lifespan and shared by every request."""

    decisions: DecisionService
    search: SearchService
    guardrails: GuardrailService
    agent_name: str  # the server's name, echoed as `agent` in results
    graph: GraphService
    browse: BrowseService
    # Deliberation capture (methods.capture); None only for services built without one (tools).
    tracker: Tracker | None = None
    # The agent-workflow methods' store summaries, and the threads preAction runs its parts on.
    digest: DigestCache | None = None
    pool: Executor | None = None
    transfer: TransferService | None = None  # bulk import / export (cstp.importDecisions ...)
    backup: BackupService | None = None  # raw collection snapshots; None when the store has none
    # Admission control of the record/review/update writes (CSTP_WRITE_MAX_WAIT); None: unbounded.
    writes: WriteAdmission | None = None


@dataclass(frozen=True, slots=True)
class CallContext:
    """Per call. The request id is not here: log lines carry it from `logs.request_id`."""

    agent: str  # the authenticated caller (token's agent id)
    services: Services
    admin: bool = False  # the caller is one of CSTP_ADMIN_AGENTS (or the generated token's agent)


def on_pool(ctx: CallContext, fn: Callable[[], T]) -> Future[T]:
    """`fn` on the services' pool, in a copy of the caller's context (the request id for its log
    lines), so the caller can do something else meanwhile; where there is no pool (tools), run at
    once on this thread, its outcome delivered through the future as the pool would."""
    if ctx.services.pool is not None:
        return ctx.services.pool.submit(contextvars.copy_context().run, fn)
    done: Future[T] = Future()
    try:
        done.set_result(fn())
    except Exception as e:  # noqa: BLE001 - delivered through the future like the pool would
        done.set_exception(e)
    return done


def write_slot(ctx: CallContext) -> AbstractContextManager[None]:
    """The block of one record/review/update write: admitted, or `Busy` raised before it starts."""
    writes = ctx.services.writes
    return writes.slot() if writes is not None else nullcontext()
