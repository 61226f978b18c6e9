"""What every handler receives besides its params: the caller and the services."""

from __future__ import annotations

from dataclasses import dataclass

from cstp.domain.browsing import BrowseService
from cstp.domain.decisions import DecisionService
from cstp.domain.graph import GraphService
from cstp.domain.guardrails import GuardrailService
from cstp.domain.search import SearchService
from cstp.domain.snapshot import BackupService
from cstp.domain.transfer import TransferService


@dataclass(frozen=True, slots=True)
class Services:
    """Built once in the app's lifespan and shared by every request."""

    decisions: DecisionService
    search: SearchService
    guardrails: GuardrailService
    agent_name: str  # the server's name, echoed as `agent` in results
    graph: GraphService
    browse: BrowseService
    transfer: TransferService | None = None  # bulk import / export (cstp.importDecisions ...)
    backup: BackupService | None = None  # raw collection snapshots; None when the store has none


@dataclass(frozen=True, slots=True)
class CallContext:
    """Per call. The request id is not here: log lines carry it from `logs.request_id`."""

    agent: str  # the authenticated caller (token's agent id)
    services: Services
    admin: bool = False  # the caller is one of CSTP_ADMIN_AGENTS (or the generated token's agent)
