"""`cstp-server mcp`: an MCP server on stdin/stdout that forwards to a running cstp server's /mcp.

Desktop clients that can only launch a command (Claude Desktop) use this. It is a relay, not a
second server: it connects to `<CSTP_URL>/mcp` with `CSTP_TOKEN` as the SDK's own Streamable HTTP
client, and answers `tools/list` and `tools/call` with what that server answers. So the tool list,
the schemas, the results and the errors are the server's, the calls run as the token's agent, and
a tool the server gains (a method landing) appears here too. stdout carries only the protocol; logs
go to stderr.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import httpx2
import mcp_types as types
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from cstp.settings import BridgeSettings
from cstp.web.mcp.server import SERVER_NAME

logger = logging.getLogger("cstp.mcp.stdio")


class RemoteUnavailable(Exception):
    """The cstp server could not be reached or refused the token (the text says which)."""


def relay(remote: ClientSession, version: str, instructions: str | None) -> Server[Any]:
    """An MCP server answering tools/list and tools/call with `remote`'s answers."""

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return await remote.list_tools(params=params)

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            return await remote.call_tool(params.name, params.arguments)
        except MCPError:
            raise  # the server's protocol error (an unknown tool): passed on as it is
        except httpx2.HTTPError as e:
            logger.warning("cstp server unreachable: %s", type(e).__name__)
            return types.CallToolResult(
                content=[types.TextContent(text="cstp server unreachable; try again")], is_error=True
            )

    server: Server[Any] = Server(
        SERVER_NAME,
        version=version,
        instructions=instructions,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    server.middleware.clear()
    return server


async def _check(http: httpx2.AsyncClient, url: str) -> None:
    """Fail fast, with a message an operator can act on, when the server or the token is wrong."""
    try:
        response = await http.post(url, json={}, headers={"Accept": "application/json, text/event-stream"})
    except httpx2.HTTPError as e:
        raise RemoteUnavailable(f"cannot reach {url}: {type(e).__name__}") from None
    if response.status_code == 401:
        raise RemoteUnavailable(f"{url} refused the token: set CSTP_TOKEN to a token of that server")
    if response.status_code in (404, 405):
        raise RemoteUnavailable(f"{url} is not a cstp server's MCP endpoint (HTTP {response.status_code})")


async def serve(settings: BridgeSettings, version: str) -> None:
    """Relay stdin/stdout to `settings.url`/mcp until stdin closes."""
    url = settings.url + "/mcp"
    headers = {"Authorization": f"Bearer {settings.token.get_secret_value()}"} if settings.token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=settings.timeout) as http:
        await _check(http, url)
        async with (
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as remote,
        ):
            init = await remote.initialize()
            logger.info("relaying to %s (%s %s)", url, init.server_info.name, init.server_info.version)
            server = relay(remote, init.server_info.version or version, init.instructions)
            async with stdio_server() as (stdin, stdout):
                await server.run(stdin, stdout, server.create_initialization_options())


def main(version: str) -> int:
    """The `cstp-server mcp` command. Exit codes: 0 stdin closed, 1 server unreachable, 2 bad setting."""
    import anyio
    from pydantic import ValidationError

    try:
        settings = BridgeSettings()
    except ValidationError as e:
        sys.stderr.write(
            f"cstp-server mcp: invalid setting: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}\n"
        )
        return 2
    from cstp import logs

    logs.configure(
        settings.log_level, [settings.token.get_secret_value()] if settings.token else [], sys.stderr
    )
    try:
        anyio.run(serve, settings, version)
    except RemoteUnavailable as e:
        sys.stderr.write(f"cstp-server mcp: {e}\n")
        return 1
    return 0
