"""Agent cards generated from the method table: the CSTP card and the A2A card."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cstp.rpc.table import MethodTable
from cstp.settings import Settings

CSTP_PROTOCOL_VERSION = "1.0"


@dataclass(frozen=True)
class Card:
    """A card encoded once at build time, with its ETag. Immutable, shared by every request."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, payload: dict[str, Any]) -> Card:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


MCP_PATH = "/mcp"
MCP_SPEC = "https://modelcontextprotocol.io/specification"


def _mcp_interface(settings: Settings, tools: Sequence[str]) -> dict[str, Any]:
    """The MCP interface: Streamable HTTP at /mcp, the same bearer token, these tools."""
    return {
        "url": settings.agent_url.rstrip("/") + MCP_PATH,
        "transport": "streamable-http",
        "tools": list(tools),
    }


def cstp_card(settings: Settings, table: MethodTable, version: str, mcp_tools: Sequence[str] = ()) -> Card:
    """`/.well-known/agent.json`, in the reference server's key order (plus `capabilities.mcp`)."""
    card: dict[str, Any] = {
        "name": settings.agent_name,
        "description": settings.agent_description,
        "version": version,
        "url": settings.agent_url,
        "capabilities": {
            "cstp": {"version": CSTP_PROTOCOL_VERSION, "methods": sorted(table)},
            **({"mcp": _mcp_interface(settings, mcp_tools)} if mcp_tools else {}),
        },
        "authentication": {"schemes": ["bearer"]},
    }
    if settings.agent_contact:
        card["contact"] = settings.agent_contact
    return Card.of(card)


def a2a_card(settings: Settings, table: MethodTable, version: str, mcp_tools: Sequence[str] = ()) -> Card:
    """`/.well-known/agent-card.json` in the A2A AgentCard shape; one skill per method. The MCP
    interface is an A2A capability extension (A2A's interfaces are A2A protocol bindings only)."""
    base = settings.agent_url.rstrip("/")
    card: dict[str, Any] = {
        "name": settings.agent_name,
        "description": settings.agent_description,
        "version": version,
        "supportedInterfaces": [
            {
                "url": f"{base}/cstp",
                "protocolBinding": "JSONRPC",
                "protocolVersion": CSTP_PROTOCOL_VERSION,
            }
        ],
        "capabilities": {
            "streaming": False,
            "pushNotifications": False,
            **(
                {
                    "extensions": [
                        {
                            "uri": MCP_SPEC,
                            "description": "MCP tools over Streamable HTTP, with the same bearer token",
                            "required": False,
                            "params": _mcp_interface(settings, mcp_tools),
                        }
                    ]
                }
                if mcp_tools
                else {}
            ),
        },
        "defaultInputModes": ["application/json"],
        "defaultOutputModes": ["application/json"],
        "securitySchemes": {
            "bearer": {
                "httpAuthSecurityScheme": {
                    "scheme": "Bearer",
                    "description": "Token from CSTP_AUTH_TOKENS",
                }
            }
        },
        "securityRequirements": [{"schemes": {"bearer": {"list": []}}}],
        "skills": [
            {
                "id": name,
                "name": name.removeprefix("cstp."),
                "description": spec.summary or name,
                "tags": ["cstp"],
            }
            for name, spec in sorted(table.items())
        ],
    }
    if settings.agent_contact:
        card["provider"] = {"organization": settings.agent_contact, "url": base}
    return Card.of(card)
