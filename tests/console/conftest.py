"""A real server for the command line: uvicorn on 127.0.0.1 in a thread, on embedded Chroma.

The embedder is the hashing `HashEmbedder` (deterministic, no model), the store the real Chroma
adapter, so export, import, backup and restore run through every layer the product has. Each
`serve()` is a fresh server with its own data directory; the CLI runs in-process via typer's
CliRunner (tests/console/test_entry_point.py runs the installed entry point as a process).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from tests.adapters.conftest import chroma_server_url
from tests.conftest import TOKEN
from tests.fakes import HashEmbedder
from tests.serverproc import free_port

GUEST_TOKEN = "guest-token-0123456789"
__all__ = ["chroma_server_url"]


@dataclass
class LiveServer:
    url: str
    app: Any
    data_dir: Path
    store: Any  # the ChromaStore the app serves from, for checks below the protocol

    def rpc(self, method: str, params: dict[str, Any] | None = None, token: str = TOKEN) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
        r = httpx.post(
            f"{self.url}/cstp", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        r.raise_for_status()
        return r.json()

    def result(self, method: str, params: dict[str, Any] | None = None) -> Any:
        reply = self.rpc(method, params)
        assert "result" in reply, reply
        return reply["result"]


@pytest.fixture
def serve(settings_factory: Any, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """`serve(name)` starts a fresh server (its own data dir) and returns it; all stop at teardown."""
    from cstp.adapters.chroma.store import ChromaStore
    from cstp.app import Adapters, create_app

    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(name: str = "a", chroma_url: str | None = None, **overrides: Any) -> LiveServer:
        """A server on embedded Chroma in its own data dir, or on the Chroma server at
        `chroma_url` under its own collection prefix."""
        data_dir = tmp_path / name
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "auth_tokens": f"tester:{TOKEN},guest:{GUEST_TOKEN}",
            "admin_agents": "tester",
        }
        settings = settings_factory(**(values | overrides))
        if chroma_url is None:
            store = ChromaStore.embedded(data_dir / "chroma", prefix="cstp", space=HashEmbedder.space)
        else:
            prefix = f"t{uuid.uuid4().hex[:12]}"
            store = ChromaStore.server(chroma_url, prefix=prefix, space=HashEmbedder.space, timeout=30.0)
        app = create_app(settings, adapters=Adapters(store, HashEmbedder()))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        running.append((server, thread))
        live = LiveServer(f"http://127.0.0.1:{port}", app, data_dir, store)
        # The start-up index check runs in the background; wait so tests see a settled server.
        while app.state.services.decisions.index_state in ("not checked", "checking"):
            time.sleep(0.02)
        return live

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def cli() -> Callable[..., Any]:
    """`cli(server, *args, token=TOKEN)` runs the `cstp` command in-process against `server`."""
    from cstp.console.main import app

    runner = CliRunner()

    def run(server: LiveServer | None, *args: str, token: str | None = TOKEN, **kwargs: Any) -> Any:
        base: list[str] = []
        if server is not None:
            base += ["--url", server.url]
        if token is not None:
            base += ["--token", token]
        return runner.invoke(app, [*base, *args], catch_exceptions=False, **kwargs)

    return run
