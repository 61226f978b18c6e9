"""HAProxy's own answers, with the repository's docker/haproxy/haproxy.cfg, are JSON-RPC errors:
a client of the balancer reads "no replica can take this" the way it reads the server's own
errors, never an HTML page it cannot parse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.balancer import Balancer
from tests.serverproc import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def no_replica_up(tmp_path: Path) -> Iterator[Balancer]:
    # Three replica addresses nothing listens on: every health check fails.
    with Balancer(tmp_path, replicas=[f"127.0.0.1:{free_port()}" for _ in range(3)]) as lb:
        for name in ("cstp-1", "cstp-2", "cstp-3"):
            lb.wait_status(name, "DOWN")
        yield lb


def _error_of(body: bytes) -> dict:
    reply = json.loads(body)
    assert reply["jsonrpc"] == "2.0" and reply["id"] is None, reply
    assert reply["error"]["data"] == {"component": "balancer"}, reply
    return reply["error"]


def test_with_no_replica_up_a_call_gets_a_json_rpc_503(no_replica_up: Balancer) -> None:
    body = {"jsonrpc": "2.0", "id": 7, "method": "cstp.getStats", "params": {}}
    r = httpx.post(f"{no_replica_up.url}/cstp", json=body, timeout=30)
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/json"
    error = _error_of(r.content)
    assert error["code"] == -32603
    assert "retry later" in error["message"]
    # Probes and scrapes get the same body: JSON wherever the balancer answers itself.
    r = httpx.get(f"{no_replica_up.url}/ready", timeout=30)
    assert r.status_code == 503 and _error_of(r.content)["code"] == -32603
