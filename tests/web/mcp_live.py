"""A real cstp server (uvicorn, in-process, on a free loopback port) for the MCP SDK's clients.

The SDK's clients speak HTTP through their own client library, so they need a listening socket,
not the in-process TestClient. The server runs the same app as the `client` fixture.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import uvicorn
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import AUTH, TOKEN
from tests.serverproc import free_port


@dataclass
class Live:
    url: str  # base URL, without /mcp

    @property
    def mcp(self) -> str:
        return self.url + "/mcp"

    def rpc(self, method: str, params: dict[str, Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        response = httpx.post(self.url + "/cstp", json=body, headers=AUTH, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()


@contextlib.contextmanager
def serving(app: Any) -> Iterator[Live]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(30)


@contextlib.asynccontextmanager
async def session(url: str, token: str = TOKEN) -> AsyncIterator[ClientSession]:
    """An initialized SDK session (initialize handshake) on `url` with `token`."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as s,
    ):
        await s.initialize()
        yield s
