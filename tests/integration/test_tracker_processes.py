"""Two cstp-server processes on one Chroma server behave as one tracker: an agent's query and check
answered by one process are consumed by its record on the other, and every process sees the
consumption (the reference kept inputs in process memory and refused to run several workers)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_process_lifecycle import TOKEN, env_for
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.slow

OTHER = "proc-other-0123456789"


def _inputs(server: ServerProcess, token: str = TOKEN) -> list[dict[str, Any]]:
    detail = server.rpc(token, "cstp.debugTracker", {})["result"]["detail"]
    return [i for session in detail.values() for i in session["inputs"]]


def _visible(server: ServerProcess, count: int) -> None:
    """Wait until `server` sees `count` inputs: rows are written just after the reply (write-behind)."""
    deadline = time.monotonic() + 10
    while len(_inputs(server)) < count:
        assert time.monotonic() < deadline, "captured inputs never reached the shared store"
        time.sleep(0.02)


def test_query_on_one_process_and_record_on_another_meet(tmp_path: Path, chroma_server_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    shared = {
        "CHROMA_URL": chroma_server_url,
        "CHROMA_COLLECTION_PREFIX": prefix,
        "CSTP_AUTH_TOKENS": f"ops:{TOKEN},other:{OTHER}",
    }
    with (
        ServerProcess(env_for(tmp_path / "a", **shared)) as a,
        ServerProcess(env_for(tmp_path / "b", **shared)) as b,
    ):
        a.wait_ready()
        b.wait_ready()
        seed = a.rpc(TOKEN, "cstp.recordDecision", {"decision": "Serve static pages from a CDN"})["result"]
        hits = a.rpc(TOKEN, "cstp.queryDecisions", {"query": "content delivery network"})["result"][
            "decisions"
        ]
        assert [h["id"] for h in hits] == [seed["id"]]
        a.rpc(TOKEN, "cstp.checkGuardrails", {"action": {"description": "move assets to the CDN"}})
        a.rpc(OTHER, "cstp.queryDecisions", {"query": "another agent's query"})
        _visible(b, 2)
        assert [i["source"] for i in _inputs(b)] == ["cstp:queryDecisions", "cstp:checkGuardrails"]

        result = b.rpc(TOKEN, "cstp.recordDecision", {"decision": "Put images on the CDN too"})["result"]
        assert result["deliberation_auto"] is True and result["deliberation_inputs_count"] == 2
        assert result["related_count"] == 1
        # consumed for every process; the other agent's input is untouched
        assert _inputs(a) == []
        history = a.rpc(TOKEN, "cstp.debugTracker", {"includeConsumed": True})["result"]["consumed"]
        assert [h["decisionId"] for h in history] == [result["id"]]
        assert len(_inputs(a, OTHER)) == 1
        stored = a.rpc(TOKEN, "cstp.getDecision", {"id": result["id"]})["result"]["decision"]
        assert [s["step"] for s in stored["deliberation"]["steps"]] == [1, 2]
        assert stored["related_to"][0]["id"] == seed["id"]
