"""The MCP server (the SDK's low-level `Server`) for a list of tools and a way to call methods.

`invoke(method, params, ctx)` runs one JSON-RPC call and returns its reply object (`result` or
`error`); the HTTP endpoint runs it through the server's own dispatcher as the token's agent. This
module only turns tool calls into method calls and replies into tool results:

- a result becomes structured content (the method's result, reshaped where the reference's tool
  differed) plus a text rendering: the markdown when the method produced markdown, else JSON;
- an error becomes a tool result with `isError: true` whose text is the JSON-RPC error's message
  (the same fixed client texts `/cstp` sends), with the code and data as structured content, so the
  model can read what was wrong and call again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from cstp.web.mcp.tools import JsonObject, ToolSpec

SERVER_NAME = "cstp-decisions"  # the reference's name: clients' configurations refer to it
INSTRUCTIONS = (
    "cstp keeps a record of decisions and how they turned out. Before a non-trivial choice, find "
    "precedents (query_decisions) and check the action against the guardrails (check_action); "
    "record the decision with an honest confidence (log_decision); later, review its outcome "
    "(review_outcome) so calibration (get_stats) stays true."
)

Invoke = Callable[[str, JsonObject, ServerRequestContext[Any, Any]], Awaitable[dict[str, Any]]]


def _tool(spec: ToolSpec) -> types.Tool:
    return types.Tool(
        name=spec.name,
        description=spec.description,
        input_schema=spec.input_schema,
        annotations=types.ToolAnnotations(
            read_only_hint=spec.read_only,
            destructive_hint=None if spec.read_only else spec.destructive,
            open_world_hint=False,
        ),
    )


def _text(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("markdown"), str):
        return str(value["markdown"])
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def tool_result(spec: ToolSpec, reply: dict[str, Any]) -> types.CallToolResult:
    """The tool result for a JSON-RPC reply object."""
    error = reply.get("error")
    if isinstance(error, dict):
        message = str(error.get("message", "error"))
        return types.CallToolResult(
            content=[types.TextContent(text=message)],
            structured_content={"error": error},
            is_error=True,
        )
    result = spec.shape(reply.get("result"))
    return types.CallToolResult(content=[types.TextContent(text=_text(result))], structured_content=result)


def build_server(tools: tuple[ToolSpec, ...], invoke: Invoke, version: str) -> Server[Any]:
    """The MCP server offering exactly `tools`."""
    by_name = {t.name: t for t in tools}
    listed = types.ListToolsResult(tools=[_tool(t) for t in tools])

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return listed

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        spec = by_name.get(params.name)
        if spec is None:  # a protocol error, not a tool result: there is no such tool to fail
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name[:64]}")
        reply = await invoke(spec.method, spec.params(params.arguments), ctx)
        return tool_result(spec, reply)

    server: Server[Any] = Server(
        SERVER_NAME,
        version=version,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    # The SDK's OpenTelemetry middleware is a no-op without an exporter but still costs each call
    # its span bookkeeping; cstp's observability is its own metrics and logs (as for FastAPI's).
    server.middleware.clear()
    return server
