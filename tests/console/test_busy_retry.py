"""The client against a real server that refuses writes under load ("Server busy"): a refused
write stored nothing, so `CstpClient` sends it again after the server's hint, and the caller
(`cstp record`, an agent's script) sees the write taken instead of an error."""

from __future__ import annotations

import threading

import pytest

from cstp.client import CstpClient, RpcFailure
from cstp.client.http import refused_as_busy
from tests.conftest import TOKEN
from tests.console.conftest import LiveServer

WRITERS = 16
EACH = 4


def _write_concurrently(server: LiveServer, busy_patience: float) -> tuple[list[str], list[RpcFailure]]:
    """WRITERS threads, each recording EACH decisions through its own client; (ids, refusals)."""
    ids: list[str] = []
    refusals: list[RpcFailure] = []
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> None:
        with CstpClient(server.url, TOKEN, busy_patience=busy_patience) as client:
            start.wait()
            for k in range(EACH):
                try:
                    result = client.call("cstp.recordDecision", {"decision": f"writer {n} choice {k}"})
                except RpcFailure as e:
                    with lock:
                        refusals.append(e)
                    continue
                with lock:
                    ids.append(result["id"])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return ids, refusals


@pytest.fixture
def busy_server(serve) -> LiveServer:
    # A bound no write can meet: every write that finds another in flight is refused.
    return serve(write_max_wait=0.001)


def test_concurrent_writes_are_refused_when_the_client_does_not_retry(busy_server: LiveServer) -> None:
    ids, refusals = _write_concurrently(busy_server, busy_patience=0)
    assert refusals, "this load makes the server refuse writes (else the retry test proves nothing)"
    assert all(e.busy and e.retry_after_s > 0 for e in refusals), [e.data for e in refusals]
    # The same test on the reply object, for callers that read replies themselves (batches):
    assert all(refused_as_busy({"error": {"code": e.code, "data": e.data}}) for e in refusals)
    assert not refused_as_busy({"error": {"code": -32603, "data": {"component": "store"}}})
    assert len(ids) + len(refusals) == WRITERS * EACH
    assert busy_server.result("cstp.getStats", {})["total"] == len(ids)  # refused: nothing stored


def test_a_write_refused_as_busy_is_sent_again_until_the_server_takes_it(busy_server: LiveServer) -> None:
    ids, refusals = _write_concurrently(busy_server, busy_patience=60)
    assert not refusals, [e.data for e in refusals]
    assert len(set(ids)) == WRITERS * EACH
    assert busy_server.result("cstp.getStats", {})["total"] == WRITERS * EACH  # each stored once
