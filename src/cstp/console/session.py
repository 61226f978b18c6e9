"""The connection settings every command shares, and how failures become exit codes.

Exit codes: 0 ok; 1 the server answered with an error (its message printed) or could not be
reached; 2 a usage error (typer/click's own code, also used for bad option values found here).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from cstp.client import CstpClient, RpcFailure, TransportFailure
from cstp.console import output

DEFAULT_URL = "http://localhost:8100"


@dataclass
class Session:
    url: str
    token: str | None
    json: bool
    timeout: float
    _client: CstpClient | None = None

    @property
    def client(self) -> CstpClient:
        if self._client is None:
            self._client = CstpClient(self.url, self.token, timeout=self.timeout)
        return self._client

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """The method's result; a failure prints its message and exits 1."""
        with failures():
            return self.client.call(method, params)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def find_token(explicit: str | None, data_dir: Path) -> str | None:
    """`--token` / CSTP_TOKEN, else the token a server generated in `<data_dir>/auth_token`."""
    if explicit:
        return explicit.strip()
    token_file = data_dir / "auth_token"
    try:
        token = token_file.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None


def usage_error(message: str) -> typer.Exit:
    output.err.print(f"[red]Usage error:[/red] {output.escape(message)}")
    return typer.Exit(2)


@contextmanager
def failures() -> Iterator[None]:
    """Print a server or transport failure and exit 1."""
    try:
        yield
    except RpcFailure as e:
        output.err.print(f"[red]Error {e.code}:[/red] {output.escape(e.message)}")
        if isinstance(e.data, dict):
            detail = {k: v for k, v in e.data.items() if k != "errors"}
            if detail:
                output.err.print(output.escape(detail))
        raise typer.Exit(1) from None
    except TransportFailure as e:
        output.err.print(f"[red]Error:[/red] {output.escape(e)}")
        raise typer.Exit(1) from None


def session_of(ctx: typer.Context) -> Session:
    session = ctx.obj
    assert isinstance(session, Session)
    return session
