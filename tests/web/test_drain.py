"""`/ready` while draining (web.drain): 503 at once, without running the probes; the rest serves."""

from __future__ import annotations

from typing import Any

from tests.conftest import rpc


def test_ready_answers_503_draining_once_the_drain_began(client: Any) -> None:
    assert client.get("/ready").status_code == 200
    client.app.state.web.drain.begin()
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json() == {"status": "draining", "error": "shutting down"}
    # Everything else is still served during the drain.
    assert client.get("/health").status_code == 200
    assert rpc(client, "cstp.listGuardrails", {})["result"]["count"] >= 1


def test_a_new_app_is_not_draining(client: Any) -> None:
    assert client.app.state.web.drain.draining is False
