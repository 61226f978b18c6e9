"""Circuit breakers shared by two real `cstp-server` processes on one Chroma server, and kept
across a restart: the state lives in the `<prefix>-breakers` collection, not in a process.

Each process re-reads the breaker log about once a second (the documented staleness bound), so
the other process's view is awaited by polling with a generous deadline; nothing here asserts how
long that takes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.serverproc import ServerProcess

pytestmark = pytest.mark.slow

TOKEN = "breaker-token-0123456789"
BREAKERS = """
circuit_breakers:
  - scope: stakes:critical
    failure_threshold: 2
    window_ms: 86400000
    cooldown_ms: 7200000
"""
ACTION = {"action": {"description": "Migrate the ledger", "stakes": "critical"}}


def env(tmp_path: Path, name: str, url: str, prefix: str) -> dict[str, str]:
    rules = tmp_path / "guardrails"
    rules.mkdir(exist_ok=True)
    (rules / "circuit_breakers.yaml").write_text(BREAKERS, encoding="utf-8")
    (tmp_path / name).mkdir(exist_ok=True)
    return {
        "CSTP_DATA_DIR": str(tmp_path / name / "data"),
        "CSTP_AUTH_TOKENS": f"ops:{TOKEN}",
        "GUARDRAILS_PATHS": str(rules),
        "GUARDRAILS_WATCH": "false",
        "CHROMA_URL": url,
        "CHROMA_COLLECTION_PREFIX": prefix,
    }


def call(server: ServerProcess, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply = server.rpc(TOKEN, method, params)
    assert "result" in reply, reply
    return reply["result"]  # type: ignore[no-any-return]


def allowed(server: ServerProcess) -> bool:
    return bool(call(server, "cstp.checkGuardrails", ACTION)["allowed"])


def eventually(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def fail_twice(server: ServerProcess) -> None:
    for i in range(2):
        decision = {"decision": f"Critical change {i}", "category": "architecture", "stakes": "critical"}
        decision_id = call(server, "cstp.recordDecision", {**decision, "confidence": 0.9})["id"]
        assert call(server, "cstp.reviewDecision", {"id": decision_id, "outcome": "failure"})["success"]


def test_a_breaker_opened_on_one_process_blocks_on_the_other_and_survives_a_restart(
    tmp_path: Path, chroma_server_url: str
) -> None:
    prefix = f"b{uuid.uuid4().hex[:10]}"
    with (
        ServerProcess(env(tmp_path, "one", chroma_server_url, prefix)) as one,
        ServerProcess(env(tmp_path, "two", chroma_server_url, prefix)) as two,
    ):
        one.wait_ready()
        two.wait_ready()
        assert allowed(one) and allowed(two)
        fail_twice(one)
        assert not allowed(one)  # at once on the process that saw the reviews
        assert eventually(lambda: not allowed(two))
        violation = call(two, "cstp.checkGuardrails", ACTION)["violations"][0]
        assert violation["guardrailId"] == "circuit_breaker:stakes:critical"
        assert call(two, "cstp.getCircuitState", {"scope": "stakes:critical"})["state"] == "open"
    with ServerProcess(env(tmp_path, "one", chroma_server_url, prefix)) as again:
        again.wait_ready()
        assert not allowed(again)  # a restart loses no breaker state
        assert call(again, "cstp.getCircuitState", {"scope": "stakes:critical"})["failureCount"] == 2


def test_a_reset_on_one_process_lets_exactly_one_probe_through_across_both(
    tmp_path: Path, chroma_server_url: str
) -> None:
    prefix = f"b{uuid.uuid4().hex[:10]}"
    with (
        ServerProcess(env(tmp_path, "one", chroma_server_url, prefix)) as one,
        ServerProcess(env(tmp_path, "two", chroma_server_url, prefix)) as two,
    ):
        one.wait_ready()
        two.wait_ready()
        fail_twice(one)
        assert eventually(lambda: not allowed(two))
        reset = call(one, "cstp.resetCircuit", {"scope": "stakes:critical", "probeFirst": True})
        assert (reset["previous_state"], reset["new_state"]) == ("open", "half_open")
        # two lets its first check through once it sees the half-open breaker: that is the probe
        assert eventually(lambda: allowed(two))
        assert not allowed(one) and not allowed(two)
        states = {
            call(s, "cstp.getCircuitState", {"scope": "stakes:critical"})["probeInFlight"] for s in (one, two)
        }
        assert states == {True}
