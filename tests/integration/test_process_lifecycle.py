"""The server as a process: SIGTERM with a request in flight, kill -9 after a write, SIGHUP reload,
startup failures with clear messages."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serverproc import BIN, ServerProcess

TOKEN = "proc-token-0123456789"
pytestmark = pytest.mark.slow


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "CSTP_DATA_DIR": str(tmp_path / "data"),
        "CSTP_AUTH_TOKENS": f"ops:{TOKEN}",
        "GUARDRAILS_WATCH": "false",
        # These tests are about what follows the drain (tests/integration/test_drain.py).
        "CSTP_SHUTDOWN_DRAIN_S": "0",
        # Their batches of hundreds of records are one burst, which write admission would partly
        # refuse ("Server busy"); what they check is that accepted work finishes at shutdown.
        "CSTP_WRITE_MAX_WAIT": "0",
        **extra,
    }


def slow_batch(n: int) -> list[dict[str, Any]]:
    """A batch of recordDecision calls: a request that takes a while (each write is fsynced)."""
    return [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "cstp.recordDecision",
            "params": {"decision": f"Decision number {i} about caching layer {i % 7}"},
        }
        for i in range(n)
    ]


def test_sigterm_finishes_the_request_in_flight_and_exits_0(tmp_path: Path) -> None:
    # A generous shutdown timeout: this test is about finishing work, not about the deadline.
    with ServerProcess(env_for(tmp_path, CSTP_SHUTDOWN_TIMEOUT="30")) as server:
        server.wait_ready()
        batch = slow_batch(200)
        answer: dict[str, Any] = {}

        def send() -> None:
            r = httpx.post(
                f"{server.url}/cstp",
                json=batch,
                timeout=60,
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            answer["status"], answer["body"] = r.status_code, r.json()

        t = threading.Thread(target=send)
        t.start()
        time.sleep(0.4)  # the batch is being processed
        sent = time.monotonic()
        server.signal(signal.SIGTERM)
        in_flight = t.is_alive() and "status" not in answer
        code = server.wait(40)
        t.join(30)
        assert code == 0, server.output()
        assert time.monotonic() - sent < 30
        assert answer["status"] == 200
        assert in_flight  # the signal really arrived while the batch was being served
        assert len(answer["body"]) == 200
        assert all(r["result"]["success"] for r in answer["body"])
        # The listener is closed: new connections are refused.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/health", timeout=2)


def test_sigterm_exits_0_within_the_shutdown_timeout_even_when_work_remains(
    tmp_path: Path,
) -> None:
    with ServerProcess(env_for(tmp_path, CSTP_SHUTDOWN_TIMEOUT="1")) as server:
        server.wait_ready()
        answers: list[httpx.Response | Exception] = []

        def send() -> None:
            try:
                answers.append(
                    httpx.post(
                        f"{server.url}/cstp",
                        json=slow_batch(400),
                        timeout=60,
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    )
                )
            except httpx.HTTPError as e:
                answers.append(e)

        threads = [threading.Thread(target=send) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.4)
        sent = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.wait(15) == 0, server.output()
        assert time.monotonic() - sent < 5  # well inside Docker's 10 s grace period
        for t in threads:
            t.join(30)
        # Requests cut at the deadline are answered JSON-RPC (never a text/plain 500).
        cut = [a for a in answers if isinstance(a, httpx.Response)]
        assert cut, answers
        for response in cut:
            assert response.headers["content-type"] == "application/json", response.text
            if response.status_code != 200:
                assert response.status_code == 503
                assert response.json()["error"]["code"] == -32603
        assert "Traceback" not in server.output()


def test_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    with ServerProcess(env_for(tmp_path)) as server:
        server.wait_ready()
        rid = server.rpc(
            TOKEN,
            "cstp.recordDecision",
            {"decision": "Keep audit logs for seven years", "category": "security"},
        )["result"]["id"]
        server.signal(signal.SIGKILL)
        server.wait(10)
    with ServerProcess(env_for(tmp_path)) as again:
        again.wait_ready()
        got = again.rpc(TOKEN, "cstp.getDecision", {"id": rid})["result"]
        assert got["found"] is True
        hits = again.rpc(TOKEN, "cstp.queryDecisions", {"query": "retention of audit trails"})
        assert hits["result"]["decisions"][0]["id"] == rid


def test_sighup_reloads_guardrails(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    with ServerProcess(env_for(tmp_path, GUARDRAILS_PATHS=str(rules))) as server:
        server.wait_ready()
        action = {
            "action": {
                "description": "Deploy on friday",
                "category": "process",
                "stakes": "low",
                "confidence": 0.9,
                "friday": True,
            }
        }
        assert server.rpc(TOKEN, "cstp.checkGuardrails", action)["result"]["allowed"] is True
        (rules / "friday.yaml").write_text(
            "- id: no-friday-deploys\n  description: No deploys on Friday\n"
            "  condition_friday: true\n  action: block\n  message: Not on Friday\n"
        )
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            result = server.rpc(TOKEN, "cstp.checkGuardrails", action)["result"]
            if not result["allowed"]:
                break
            time.sleep(0.1)
        assert result["violations"][0]["guardrailId"] == "no-friday-deploys"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cstp-server"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_broken_guardrail_file_fails_startup_naming_the_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yaml").write_text("- id: x\n  condition: 'action.stakes =='\n  action: block\n")
    import os

    env = {**os.environ, **env_for(tmp_path, GUARDRAILS_PATHS=str(rules))}
    result = run_cli(env=env)
    assert result.returncode == 1
    assert "broken.yaml" in result.stderr and "Traceback" not in result.stderr


def test_invalid_setting_stops_startup_naming_it(tmp_path: Path) -> None:
    import os

    env = {**os.environ, **env_for(tmp_path, CSTP_PORT="eighty")}
    result = run_cli(env=env)
    assert result.returncode == 2
    assert "CSTP_PORT" in result.stderr and "Traceback" not in result.stderr


def test_gemini_without_key_fails_startup_clearly(tmp_path: Path) -> None:
    import os

    env = {**os.environ, **env_for(tmp_path, EMBEDDING_PROVIDER="gemini")}
    result = run_cli(env=env)
    assert result.returncode == 2
    assert "GEMINI_API_KEY" in result.stderr


def test_cli_port_flag_beats_the_environment_and_tokens_stay_out_of_logs(tmp_path: Path) -> None:
    from tests.serverproc import free_port

    port = free_port()
    with ServerProcess(env_for(tmp_path), args=("--port", str(port))) as server:
        server.url = f"http://127.0.0.1:{port}"  # CSTP_PORT (server.port) must be ignored
        server.wait_ready()
        assert server.rpc(TOKEN, "cstp.listGuardrails", {})["result"]["count"] >= 1
        httpx.post(f"{server.url}/cstp", json={}, headers={"Authorization": "Bearer wrong-token"})
        server.signal(signal.SIGTERM)
        assert server.wait(15) == 0
        log = server.output()
    assert TOKEN not in log and "wrong-token" not in log
    assert '"request_id"' in log


def test_python_dash_m_entry_point_reports_the_version() -> None:
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "cstp", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.startswith("cstp ")
