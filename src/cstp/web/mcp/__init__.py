"""The MCP interface: cstp's methods as MCP tools, over Streamable HTTP at /mcp and over stdio.

`tools` is the table (tool name → JSON-RPC method, input schema, argument mapping), `server` builds
the SDK's MCP server from it, `endpoint` puts that server behind the bearer tokens at /mcp, and
`stdio` runs a local MCP server that forwards to a running cstp server's /mcp.
"""
