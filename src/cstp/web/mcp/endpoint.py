"""`/mcp` (and `/mcp/`, without a redirect): MCP Streamable HTTP behind the bearer tokens.

Before any MCP processing, a request must pass two checks:

1. Origin (DNS rebinding): a request that carries an `Origin` header is refused with 403 unless
   the origin is in `CSTP_MCP_ALLOWED_ORIGINS`. Programs (Claude Code, mcp-remote, the SDKs) send
   no Origin; a browser always does, and a page that rebinds its own host name to this server
   shows its own origin, so allowing same-origin requests would let it in: only listed origins are.
2. The token, as for `/cstp`: missing or wrong → 401 with `WWW-Authenticate: Bearer`.

Then the SDK's session manager answers it, in stateless mode: no session id is handed out and no
state is kept between requests, so any replica behind a load balancer can answer any request. It
negotiates the protocol revision (the `MCP-Protocol-Version` header, both the initialize-handshake
revisions and the stateless 2026-07-28 one) and returns JSON responses, not SSE streams: every tool
call gives one result. A GET (the optional server-to-client stream) or DELETE (ending a session)
has nothing to do here and gets 405, as the specification allows. The authenticated agent rides
in the ASGI scope to the tool call, which runs the method as that agent, as `POST /cstp` would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import ASGIApp, Receive, Scope, Send

from cstp import logs
from cstp.web.auth import Unauthorized
from cstp.web.mcp.server import build_server
from cstp.web.mcp.tools import JsonObject, ToolSpec
from cstp.web.state import Call

PATHS = frozenset({"/mcp", "/mcp/"})
_AGENT_KEY = "cstp.agent"  # where the endpoint leaves the authenticated agent in the ASGI scope
_JSON = (b"content-type", b"application/json")


def origin_allowed(origin: str, allowed: Collection[str]) -> bool:
    """`origin` is listed exactly, matches a `scheme://host:*` entry on any port, or `*` is listed."""
    origin = origin.rstrip("/")
    for entry in allowed:
        if entry == "*" or entry == origin:
            return True
        if entry.endswith(":*") and origin.startswith(entry[:-1]) and origin[len(entry) - 1 :].isdigit():
            return True
    return False


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _refuse(send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
    headers = [*extra, (b"content-length", str(len(body)).encode()), _JSON]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class McpEndpoint:
    """The ASGI endpoint for `/mcp`. `run()` is the session manager's lifespan: the app's lifespan
    enters it once, and requests are refused by the SDK until it has.

    Thread safety: the SDK's session manager in stateless mode keeps no per-client state; the
    rest is immutable after construction.
    """

    def __init__(
        self,
        tools: tuple[ToolSpec, ...],
        call: Call,
        authenticate: Callable[[str | None], str],
        *,
        allowed_origins: Collection[str],
        max_body_bytes: int,
        version: str,
    ) -> None:
        async def invoke(
            method: str, params: JsonObject, ctx: ServerRequestContext[Any, Any]
        ) -> dict[str, Any]:
            agent = ctx.request.scope.get(_AGENT_KEY) if ctx.request is not None else None
            if not isinstance(agent, str):  # unreachable through this endpoint: it set the agent
                raise RuntimeError("MCP tool call without an authenticated agent")
            return await call(method, params, agent)

        self.tools = tools
        self.authenticate = authenticate
        self.allowed_origins = tuple(allowed_origins)
        self.manager = StreamableHTTPSessionManager(
            build_server(tools, invoke, version),
            json_response=True,
            stateless=True,
            max_request_body_size=max_body_bytes,
        )

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        async with self.manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _header(scope, b"origin")
        if origin is not None and not origin_allowed(origin, self.allowed_origins):
            await _refuse(send, 403, "Origin not allowed", [])
            return
        try:
            agent = self.authenticate(_header(scope, b"authorization"))
        except Unauthorized as e:
            await _refuse(send, 401, e.detail, [(b"www-authenticate", b"Bearer")])
            return
        if scope["method"] != "POST":
            # Stateless: no session to delete, and no server-initiated messages to stream on a GET
            # (the SDK would hold such a stream open, doing nothing, until the client gives up).
            await _refuse(send, 405, "Method Not Allowed: MCP requests are POSTs", [(b"allow", b"POST")])
            return
        token = logs.agent.set(agent)
        try:
            await self.manager.handle_request({**scope, _AGENT_KEY: agent}, receive, send)
        finally:
            logs.agent.reset(token)


class McpMount:
    """Answer `/mcp` and `/mcp/` (any method) with the endpoint; pass everything else on.

    A Starlette `Mount` would redirect `/mcp` to `/mcp/` (307), which some clients do not follow
    for a POST; matching both spellings here serves them as one.
    """

    def __init__(self, app: ASGIApp, endpoint: McpEndpoint) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in PATHS:
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)
