"""An MCP tool call against its JSON-RPC twin, on one server: what the MCP envelope costs.

Two pairs: `check_action` / `cstp.checkGuardrails` (answered on the event loop: the difference is
the MCP layer alone) and `get_decision` / `cstp.getDecision` (a store read on a worker thread).
Each tool call is a stateless `POST /mcp` `tools/call` with `MCP-Protocol-Version`, as a client
sends it after the handshake; the twin is a `POST /cstp` with the same params. Both run on the
same server, alternately, `repeats` times at c = 1; medians are reported. Target: the tool call
costs at most 2 ms more (p50) than its twin.

    python -m bench --only mcp      # this scenario alone, about 30 s
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from bench import datagen
from bench.harness import Harness
from bench.procs import rpc, start_cstp

PAIRS = (
    ("check_action", "cstp.checkGuardrails"),
    ("get_decision", "cstp.getDecision"),
)


def tool_body(name: str, arguments: dict[str, Any], request_id: int = 1) -> str:
    call = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call"}
    return json.dumps({**call, "params": {"name": name, "arguments": arguments}}, separators=(",", ":"))


def run(h: Harness, repeats: int = 3) -> None:
    from cstp.web.mcp.tools import TOOLS

    server = start_cstp(
        h.registry,
        "mcp",
        token=h.token,
        logs=h.workdir / "logs",
        data_dir=h.workdir / "data-mcp",
        log_level="INFO",  # the default, as for the HTTP floor
    )
    try:
        recorded = rpc(
            server.port,
            h.token,
            "cstp.recordDecision",
            {"decision": "Benchmark MCP against JSON-RPC", "confidence": 0.7, "category": "tooling"},
        )
        arguments = {
            "check_action": {
                "description": "deploy the billing service",
                "stakes": "high",
                "confidence": 0.8,
            },
            "get_decision": {"id": recorded["id"]},
        }
        specs = {t.name: t for t in TOOLS}
        out: dict[str, Any] = {}
        for tool, method in PAIRS:
            params = specs[tool].params(arguments[tool])
            h.validate(server, method, [params] * 20)
            rpc_bodies = [datagen.rpc_body(method, params)]
            mcp_bodies = [tool_body(tool, arguments[tool])]
            h.measure(server, mcp_bodies, 1, 1, mcp=True)  # warm-up: first calls take the lazy paths
            rpc_p50, mcp_p50, rpc_cpu, mcp_cpu = [], [], [], []
            for _ in range(repeats):
                r = h.measure(server, rpc_bodies, 1, h.config.floor_s)
                m = h.measure(server, mcp_bodies, 1, h.config.floor_s, mcp=True)
                if r.errors or m.errors:
                    raise RuntimeError(f"{tool}: {m.errors} MCP / {r.errors} JSON-RPC calls failed")
                rpc_p50.append(r.p50_ms)
                mcp_p50.append(m.p50_ms)
                rpc_cpu.append(r.server_cpu_ms)
                mcp_cpu.append(m.server_cpu_ms)
            figures = {
                "method": method,
                "rpc_p50_ms": round(statistics.median(rpc_p50), 3),
                "mcp_p50_ms": round(statistics.median(mcp_p50), 3),
                "rpc_server_cpu_ms": round(statistics.median(rpc_cpu), 3),
                "mcp_server_cpu_ms": round(statistics.median(mcp_cpu), 3),
            }
            figures["extra_p50_ms"] = round(figures["mcp_p50_ms"] - figures["rpc_p50_ms"], 3)
            out[tool] = figures
            h.log(
                f"MCP {tool} p50 {figures['mcp_p50_ms']:.3f} ms vs {method} {figures['rpc_p50_ms']:.3f} ms "
                f"(+{figures['extra_p50_ms']:.3f} ms; server CPU {figures['mcp_server_cpu_ms']:.3f} vs "
                f"{figures['rpc_server_cpu_ms']:.3f} ms per call)"
            )
        h.floors["mcp"] = {"repeats": repeats, "concurrency": 1, "pairs": out}
    finally:
        h.registry.stop(server)
