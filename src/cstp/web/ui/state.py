"""What the dashboard's pages use, built by the composition root (`app.state.ui`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cstp.domain.ui_sessions import UiSessions
from cstp.web.state import Call


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class UiState:
    """Thread safety: frozen; every member is itself safe to call from any request."""

    call: Call  # method, params, agent → the JSON-RPC reply object (the dispatcher's pipeline)
    sessions: UiSessions
    authenticate: Callable[[str | None], str]  # Authorization header → agent id, or Unauthorized
    guardrail_status: Callable[[], Mapping[str, Any]]  # loaded rules, their files, last reload
    guardrail_files: Callable[[], Mapping[str, str]] = field(default=dict)  # rule id → its file
    cookie_secure: bool = False
    clock: Callable[[], datetime] = field(default=_now)
