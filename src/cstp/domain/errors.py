"""Domain exceptions. They say what went wrong; `cstp.methods.errors` maps them to JSON-RPC codes.

CstpError
├── InvalidInput            bad value from a caller (names the field)       → -32602
│   └── AmbiguousId         an id prefix matches several decisions          → -32602 (candidates)
├── DecisionNotFound        no decision with that id                        → -32602
├── NotAllowed              the caller may not use this method (not admin)  → -32003
├── GuardrailError          a guardrail file or rule is broken (file, rule) → startup / reload failure
├── ConfigError             a setting has an invalid value (names it)      → startup failure
├── Busy                    a write refused: the write queue is too long    → -32603 (retryAfterMs)
└── Unavailable             a dependency cannot serve right now             → -32603
    ├── StoreUnavailable    the decision store (Chroma) failed
    └── EmbedderUnavailable the embedding model or API failed
        └── EmbedderAuthError  the API rejected the key
"""

from __future__ import annotations


class CstpError(Exception):
    """Base of every error the domain raises on purpose."""


class InvalidInput(CstpError):
    """A caller sent a value the domain cannot accept. `field` names it (dotted path)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AmbiguousId(InvalidInput):
    """An id prefix matches more than one decision. Acting on one of them (say the newest) would
    read or change a decision the caller did not mean, so the caller must send more characters.
    `candidates` holds up to `MAX_CANDIDATES` matching ids (ascending); `more` says others exist."""

    MAX_CANDIDATES = 10

    def __init__(self, prefix: str, candidates: tuple[str, ...], *, more: bool = False) -> None:
        listed = ", ".join(candidates) + (", ..." if more else "")
        super().__init__(
            f"Ambiguous id prefix {prefix!r}: matches {listed}; send more characters", field="id"
        )
        self.prefix = prefix
        self.candidates = candidates
        self.more = more


class DecisionNotFound(CstpError):
    """No decision has the requested id."""

    def __init__(self, decision_id: str) -> None:
        super().__init__(f"Decision not found: {decision_id}")
        self.decision_id = decision_id


class NotAllowed(CstpError):
    """The authenticated caller may not do this (an operator's method called by a non-admin).
    `reason` is a stable code for clients (e.g. `not_admin`)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class GuardrailError(CstpError):
    """A guardrail file or rule cannot be loaded. Carries a stable `code`, the file and the rule id."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid_rule",
        file: str | None = None,
        rule_id: str | None = None,
    ) -> None:
        where = ": ".join(p for p in (file, f"rule {rule_id}" if rule_id else None) if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.code = code
        self.file = file
        self.rule_id = rule_id


class ConfigError(CstpError):
    """A setting has an invalid value. The message names the setting."""


class Busy(CstpError):
    """A write refused before it started, because the writes already queued would keep it waiting
    longer than the server's bound (CSTP_WRITE_MAX_WAIT). Nothing was stored, so a retry after
    `retry_after` seconds is safe. Not an `Unavailable`: every dependency is working."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"write queue full: retry after {retry_after:.2f} s")
        self.retry_after = retry_after


class Unavailable(CstpError):
    """A dependency cannot serve the request right now; retrying later may work."""


class StoreUnavailable(Unavailable):
    """The decision store failed (connection refused, timeout, server error)."""


class EmbedderUnavailable(Unavailable):
    """The embedding model or API failed."""


class EmbedderAuthError(EmbedderUnavailable):
    """The embedding API rejected the configured key."""
