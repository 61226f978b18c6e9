"""The whole app against a real Chroma server on 127.0.0.1, and with Gemini embeddings served by a
loopback stub that speaks Gemini's wire format."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cstp.app import create_app
from tests.adapters.gemini_stub import GeminiStub
from tests.chroma_server import start_chroma_server, stop_chroma_server
from tests.conftest import rpc


@pytest.fixture
def server_client(chroma_server_url: str, settings_factory: Any) -> Iterator[Any]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = settings_factory(chroma_url=chroma_server_url, chroma_collection_prefix=prefix)
    with TestClient(create_app(settings)) as c:
        yield c


def test_ready_reports_server_mode(server_client: Any) -> None:
    body = server_client.get("/ready").json()
    store = body["components"]["store"]
    assert store["mode"] == "server"
    # NOT_READY while the start-up index check runs, OK once it is done
    assert (store["status"], store["index"]) in {("NOT_READY", "checking"), ("OK", "ok")}


def test_record_query_review_calibrate_on_a_chroma_server(server_client: Any) -> None:
    ids = []
    for text, category, conf in [
        ("Serve the dashboard from a CDN edge cache", "architecture", 0.8),
        ("Move nightly reports to a job queue", "architecture", 0.6),
        ("Require two reviewers for auth changes", "security", 0.9),
    ]:
        r = rpc(
            server_client,
            "cstp.recordDecision",
            {"decision": text, "category": category, "confidence": conf, "stakes": "high"},
        )
        ids.append(r["result"]["id"])
    hits = rpc(
        server_client,
        "cstp.queryDecisions",
        {"query": "content delivery network for static pages", "limit": 1},
    )["result"]
    assert hits["decisions"][0]["id"] == ids[0]
    filtered = rpc(
        server_client,
        "cstp.queryDecisions",
        {
            "query": "reports",
            "filters": {"category": "architecture", "minConfidence": 0.7, "stakes": ["high"]},
        },
    )["result"]
    assert [d["id"] for d in filtered["decisions"]] == [ids[0]]
    for rid in ids:
        assert rpc(server_client, "cstp.reviewDecision", {"id": rid, "outcome": "success"})["result"][
            "success"
        ]
    cal = rpc(server_client, "cstp.getCalibration", {"filters": {"minDecisions": 3}})["result"]
    assert cal["overall"]["reviewedDecisions"] == 3 and cal["overall"]["accuracy"] == 1.0
    assert rpc(server_client, "cstp.reindex", {})["result"]["decisionsIndexed"] == 3


def test_ready_is_503_when_the_chroma_server_goes_away(tmp_path: Path, settings_factory: Any) -> None:
    url, process = start_chroma_server(tmp_path / "chroma")
    try:
        with TestClient(create_app(settings_factory(chroma_url=url))) as c:
            assert c.get("/ready").status_code == 200
            stop_chroma_server(process)
            response = c.get("/ready")
            assert response.status_code == 503
            assert response.json()["components"]["store"]["status"] == "ERROR"
            error = rpc(c, "cstp.queryDecisions", {"query": "anything"})["error"]
            assert error["code"] == -32603 and error["data"] == {"component": "store"}
            assert "Traceback" not in error["message"]
    finally:
        stop_chroma_server(process)


def test_gemini_embeddings_through_the_loopback_stub(settings_factory: Any) -> None:
    with GeminiStub() as stub:
        settings = settings_factory(
            embedding_provider="gemini",
            gemini_api_key=stub.api_key,
            gemini_base_url=stub.base_url,
            gemini_dimensions=64,
        )
        with TestClient(create_app(settings)) as c:
            r = rpc(c, "cstp.recordDecision", {"decision": "Adopt blue-green deploys"})["result"]
            assert r["indexed"] is True
            hits = rpc(c, "cstp.queryDecisions", {"query": "Adopt blue-green deploys"})["result"]
            assert hits["decisions"][0]["id"] == r["id"]
            assert c.get("/ready").json()["components"]["embedder"]["space"].startswith("gemini")
        bodies = [req.body for req in stub.requests]
        assert bodies[0]["requests"][0]["outputDimensionality"] == 64
        assert {req.headers["x-goog-api-key"] for req in stub.requests} == {stub.api_key}
        tasks = {b["requests"][0]["taskType"] for b in bodies}
        assert tasks == {"RETRIEVAL_DOCUMENT", "RETRIEVAL_QUERY"}


def test_rejected_gemini_key_keeps_the_decision_unindexed(settings_factory: Any) -> None:
    with GeminiStub() as stub:
        settings = settings_factory(
            embedding_provider="gemini",
            gemini_api_key="wrong-key-0123456789",
            gemini_base_url=stub.base_url,
        )
        with TestClient(create_app(settings)) as c:
            r = rpc(c, "cstp.recordDecision", {"decision": "Keep it"})["result"]
            assert r["success"] is True and r["indexed"] is False
            assert rpc(c, "cstp.getDecision", {"id": r["id"]})["result"]["found"] is True
            error = rpc(c, "cstp.queryDecisions", {"query": "keep"})["error"]
            assert error["code"] == -32603 and "API key" in error["message"]
            assert "wrong-key" not in error["message"]


def _eventually(check: Any, timeout: float = 15.0) -> Any:
    """`check()` once it is truthy: another process's writes show after its catch-up lag."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_listing_and_stats_on_one_server_follow_the_writes_of_another(
    chroma_server_url: str, settings_factory: Any
) -> None:
    """Two server processes on one Chroma server (two apps, two stores): the browse catalogue of
    each follows the store, so a decision recorded or reviewed through one is listed and counted
    by the other."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = settings_factory(chroma_url=chroma_server_url, chroma_collection_prefix=prefix)
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        assert rpc(b, "cstp.getStats", {})["result"]["total"] == 0
        ids = [
            rpc(a, "cstp.recordDecision", {"decision": f"Shard the queue {i}", "category": "tooling"})[
                "result"
            ]["id"]
            for i in range(3)
        ]
        rpc(a, "cstp.reviewDecision", {"id": ids[0], "outcome": "success"})

        def listed() -> Any:
            rows = rpc(b, "cstp.listDecisions", {"category": "tooling", "status": "reviewed"})["result"]
            return rows if rows["total"] == 1 else None

        rows = _eventually(listed)
        assert rows is not None and rows["decisions"][0]["id"] == ids[0]
        stats = _eventually(lambda: (s := rpc(b, "cstp.getStats", {})["result"])["total"] == 3 and s)
        assert stats and stats["byStatus"] == {"pending": 2, "reviewed": 1}
        assert _eventually(lambda: b.get("/ready").json()["components"]["store"]["catalogue"] == "loaded")


def test_an_unreachable_store_at_start_serves_503_until_it_comes(settings_factory: Any) -> None:
    """docs/OPERATIONS.md: the server starts without its Chroma server (containers start in any
    order) and says so on /ready and in every store call, instead of exiting."""
    from tests.serverproc import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with TestClient(create_app(settings_factory(chroma_url=url, chroma_timeout=1))) as c:
        response = c.get("/ready")
        assert response.status_code == 503
        assert response.json()["components"]["store"]["status"] == "ERROR"
        assert url not in response.text and "127.0.0.1" not in response.text
        error = rpc(c, "cstp.listDecisions", {})["error"]
        assert error["code"] == -32603 and error["data"] == {"component": "store"}
