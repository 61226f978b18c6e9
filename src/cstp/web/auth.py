"""Bearer tokens → agent ids.

Tokens come from `CSTP_AUTH_TOKENS` (`agent:token,agent2:token2`) or its `_FILE` variant. With none
configured the server generates one on first start, keeps it in `<data_dir>/auth_token` (mode 0600)
and prints it once: a zero-config server is usable but never open.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from cstp.domain.errors import ConfigError

logger = logging.getLogger("cstp.auth")

GENERATED_AGENT = "default"


def parse_tokens(raw: str) -> list[tuple[str, str]]:
    """`agent:token,...` → pairs. Whitespace stripped; entries lacking agent or token are errors."""
    pairs: list[tuple[str, str]] = []
    for n, entry in enumerate(e.strip() for e in raw.replace("\n", ",").split(",")):
        if not entry:
            continue
        agent, sep, token = entry.partition(":")
        agent, token = agent.strip(), token.strip()
        if not sep or not agent or not token:
            raise ConfigError(f"invalid setting CSTP_AUTH_TOKENS: entry {n + 1} must look like agent:token")
        if len(token) < 8:
            raise ConfigError(
                f"invalid setting CSTP_AUTH_TOKENS: the token of agent {agent} is shorter than 8 characters"
            )
        pairs.append((agent, token))
    return pairs


def load_or_generate(token_file: Path) -> list[tuple[str, str]]:
    """The generated token for a server started without any configured token."""
    if token_file.exists():
        token = token_file.read_text(encoding="utf-8").strip()
        if token:
            logger.info("using the generated token kept in %s", token_file)
            return [(GENERATED_AGENT, token)]
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    # Printed once, to the terminal only (never to the JSON log): the operator needs it to connect.
    sys.stderr.write(
        "\n  No CSTP_AUTH_TOKENS configured: generated a token for agent "
        f"'{GENERATED_AGENT}'.\n  Authorization: Bearer {token}\n"
        f"  (kept in {token_file}; set CSTP_AUTH_TOKENS to choose your own)\n\n"
    )
    sys.stderr.flush()
    return [(GENERATED_AGENT, token)]


class Unauthorized(Exception):
    """Raised for a missing or wrong token; the web layer turns it into a 401."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Authenticator:
    """Thread safety: frozen; `authenticate` reads only the immutable token tuple."""

    tokens: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, str]]) -> Authenticator:
        return cls(tuple((agent, token.encode()) for agent, token in pairs))

    def authenticate(self, header: str | None) -> str:
        """The agent id for an `Authorization` header value, or raise Unauthorized."""
        if not header:
            raise Unauthorized("Authorization header required")
        scheme, _, credential = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized("Invalid authorization scheme, expected Bearer")
        if not credential.strip():
            raise Unauthorized("Bearer token missing: send Authorization: Bearer <token>")
        presented = credential.strip().encode()
        agent: str | None = None
        # Compare against every token so timing does not reveal which (or whether one) matched.
        for candidate_agent, token in self.tokens:
            if hmac.compare_digest(presented, token) and agent is None:
                agent = candidate_agent
        if agent is None:
            raise Unauthorized("Invalid token: it matches none of the server's tokens")
        return agent
