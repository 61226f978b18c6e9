"""`cstp-server mcp` end to end: the SDK's stdio client launches it, it relays to a real server."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from cstp.app import all_methods
from cstp.web.mcp.tools import available
from tests.conftest import TOKEN
from tests.serverproc import BIN, free_port
from tests.web.mcp_live import Live, serving

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CSTP_", "LOG_LEVEL"))}
    return {**base, **extra}


@pytest.fixture
def live(app_factory: Any) -> Any:
    with serving(app_factory()) as server:
        yield server


def test_stdio_serves_the_servers_tools_and_forwards_calls(live: Live) -> None:
    params = StdioServerParameters(
        command=str(BIN / "cstp-server"),
        args=["mcp"],
        env=_env(CSTP_URL=live.url, CSTP_TOKEN=TOKEN, LOG_LEVEL="INFO"),
    )

    async def main() -> str:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            init = await s.initialize()
            assert init.server_info.name == "cstp-decisions"
            names = [t.name for t in (await s.list_tools()).tools]
            assert names == [t.name for t in available(all_methods())]
            logged = await s.call_tool(
                "log_decision", {"decision": "Relay over stdio", "confidence": 0.6, "category": "integration"}
            )
            assert not logged.is_error, logged.content
            failed = await s.call_tool("review_outcome", {"id": "deadbeef", "outcome": "success"})
            assert failed.is_error and failed.content[0].text == "Decision not found: deadbeef"  # type: ignore[union-attr]
            return str(logged.structured_content["id"])

    decision_id = anyio.run(main)
    record = live.rpc("cstp.getDecision", {"id": decision_id})["result"]["decision"]
    assert record["decision"] == "Relay over stdio" and record["recorded_by"] == "tester"


def test_stdio_with_a_wrong_token_exits_1_with_a_message_on_stderr(live: Live) -> None:
    proc = subprocess.run(
        [str(BIN / "cstp-server"), "mcp"],
        env=_env(CSTP_URL=live.url, CSTP_TOKEN="wrong-token-000"),
        input=b"",
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout == b""  # stdout is the protocol's: nothing else is ever written there
    assert b"refused the token" in proc.stderr


def test_stdio_without_a_server_exits_1() -> None:
    proc = subprocess.run(
        [str(BIN / "cstp-server"), "mcp"],
        env=_env(CSTP_URL=f"http://127.0.0.1:{free_port()}", CSTP_TOKEN=TOKEN),
        input=b"",
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 1 and proc.stdout == b""
    assert b"cannot reach" in proc.stderr


def test_stdio_refuses_a_bad_url() -> None:
    proc = subprocess.run(
        [str(BIN / "cstp-server"), "mcp"],
        env=_env(CSTP_URL="localhost:8100"),
        input=b"",
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2 and b"url" in proc.stderr.lower()
