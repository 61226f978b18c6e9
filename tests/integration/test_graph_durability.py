"""Graph edges are kept by the decision store: an acknowledged link survives kill -9 and a restart
(the reference kept them in a process-local file that a second process never saw)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.integration.test_process_lifecycle import TOKEN, env_for
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.slow


def test_an_acknowledged_link_survives_kill_9(tmp_path: Path) -> None:
    with ServerProcess(env_for(tmp_path)) as server:
        server.wait_ready()
        ids = [
            server.rpc(TOKEN, "cstp.recordDecision", {"decision": text})["result"]["id"]
            for text in ("Move billing to Postgres", "Drop the MySQL replica")
        ]
        params = {"sourceId": ids[1], "targetId": ids[0], "edgeType": "depends_on", "weight": 0.7}
        assert server.rpc(TOKEN, "cstp.linkDecisions", params)["result"]["success"] is True
        server.signal(signal.SIGKILL)
        server.wait(10)
    with ServerProcess(env_for(tmp_path)) as again:
        again.wait_ready()
        result = again.rpc(TOKEN, "cstp.getNeighbors", {"nodeId": ids[0][:8]})["result"]
        assert result["total"] == 1
        edge = result["neighbors"][0]["edge"]
        assert (edge["sourceId"], edge["edgeType"], edge["weight"]) == (ids[1], "depends_on", 0.7)
        assert edge["createdBy"] == "ops"
