"""What every handler receives besides its params: the caller and the services."""

from __future__ import annotations

from concurrent.futures import Executor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

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


def write_slot(ctx: CallContext) -> AbstractContextManager[None]:
    """The block of one record/review/update write: admitted, or `Busy` raised before it starts."""
    writes = ctx.services.writes
    return writes.slot() if writes is not None else nullcontext()
