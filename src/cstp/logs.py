"""JSON logs to stdout, one object per line, carrying the request id and the agent of the request
being served.

Secrets never reach the log: the auth layer logs agent ids only, the per-call line carries no
params, and `RedactFilter` masks any configured token that would appear in a message anyway.

Thread safety: the context variables are per task / per thread context (batch members and worker
threads run in copies of the request's context); `logging` handlers hold their own lock.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from typing import IO

from pythonjsonlogger.json import JsonFormatter

request_id: ContextVar[str] = ContextVar("cstp_request_id", default="-")
agent: ContextVar[str] = ContextVar("cstp_agent", default="-")  # set once the token is checked

FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(agent)s"


class _ContextFilter(logging.Filter):
    """Stamp each record with the request id and agent of the request it was logged for."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.agent = agent.get()
        return True


class RedactFilter(logging.Filter):
    """Replace configured secrets in log messages with `***`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            if any(s in message for s in self._secrets):
                for s in self._secrets:
                    message = message.replace(s, "***")
                record.msg, record.args = message, None
        return True


def json_handler(stream: IO[str], secrets: Iterable[str] = ()) -> logging.Handler:
    """The handler `configure` installs: JSON lines with the context fields, secrets redacted."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter(
            FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )
    )
    handler.addFilter(_ContextFilter())
    handler.addFilter(RedactFilter(secrets))
    return handler


def configure(level: str, secrets: Iterable[str] = (), stream: IO[str] | None = None) -> None:
    """Route every logger (ours, uvicorn's, chromadb's) through one JSON handler on stdout (or
    `stream`: the stdio MCP server keeps stdout for the protocol)."""
    handler = json_handler(stream or sys.stdout, secrets)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # uvicorn's access log duplicates our request log line.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # The MCP SDK logs "Terminating session: None" at INFO for every stateless request; bm25s sets
    # its own logger to DEBUG when imported and logs "Building index from tokens" on every keyword
    # index rebuild (several a second under a write stream), whatever CSTP_LOG_LEVEL says.
    for noisy in ("chromadb", "httpx", "httpx2", "httpcore", "watchfiles", "mcp", "bm25s"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
