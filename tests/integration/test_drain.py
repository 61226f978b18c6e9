"""SIGTERM drain on a real process: `/ready` turns 503 first while requests are still served, then
the usual graceful stop (exit 0, listener closed). SIGINT and a drain of 0 stop without draining."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.serverproc import ServerProcess

TOKEN = "drain-test-token-0123456789abcdef"


def env_for(tmp_path: Path, drain: str) -> dict[str, str]:
    return {
        "CSTP_DATA_DIR": str(tmp_path / "data"),
        "CSTP_AUTH_TOKENS": f"ops:{TOKEN}",
        "GUARDRAILS_WATCH": "false",
        "CSTP_SHUTDOWN_DRAIN_S": drain,
    }


def wait_for_ready_status(server: ServerProcess, status: int, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{server.url}/ready", timeout=5)
        if r.status_code == status:
            return r
        time.sleep(0.05)
    raise AssertionError(f"/ready never answered {status}:\n{server.output()}")


def test_sigterm_turns_ready_503_while_still_serving_then_exits_0(tmp_path: Path) -> None:
    # A long drain so the checks below surely run inside it; the process still exits 0 after it.
    with ServerProcess(env_for(tmp_path, "6")) as server:
        server.wait_ready()
        server.signal(signal.SIGTERM)
        ready = wait_for_ready_status(server, 503)
        assert ready.json()["status"] == "draining"
        # Still serving: a write is acknowledged and read back, /health stays 200.
        recorded = server.rpc(TOKEN, "cstp.recordDecision", {"decision": "Written during the drain"})
        assert recorded["result"]["success"] is True, recorded
        got = server.rpc(TOKEN, "cstp.getDecision", {"id": recorded["result"]["id"]})
        assert got["result"]["found"] is True, got
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
        assert server.proc.poll() is None
        assert server.wait(40) == 0, server.output()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/health", timeout=2)
        assert "draining" in server.output()


@pytest.mark.parametrize(("sig", "drain"), [(signal.SIGINT, "30"), (signal.SIGTERM, "0")])
def test_sigint_or_a_zero_drain_stops_without_draining(tmp_path: Path, sig: int, drain: str) -> None:
    # With a 30 s drain, only "no drain" lets the process exit within the 20 s wait below.
    with ServerProcess(env_for(tmp_path, drain)) as server:
        server.wait_ready()
        server.signal(sig)
        assert server.wait(20) == 0, server.output()
        assert "draining" not in server.output()


def test_a_second_sigterm_ends_the_drain(tmp_path: Path) -> None:
    with ServerProcess(env_for(tmp_path, "60")) as server:
        server.wait_ready()
        server.signal(signal.SIGTERM)
        wait_for_ready_status(server, 503)
        server.signal(signal.SIGTERM)
        assert server.wait(20) == 0, server.output()
