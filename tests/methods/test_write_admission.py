"""Admission control over JSON-RPC: a write queue over its bound refuses writes at once, with a
retryable error, and every write it accepted is stored and readable.

The embedder is the fixture's (hashing, or ONNX on real adapters) behind a gate the test opens
and closes, plus a fixed delay per call, so the write path has a service time the admission
control can measure. "At once" is shown without timing anything: the refusals come back while
the write in front of them is still held in the embedder.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cstp.domain.ports import Embedder, Purpose
from tests.conftest import rpc

DELAY_S = 0.2  # per document embedding: the write path's service time here
MAX_WAIT_S = 0.05  # CSTP_WRITE_MAX_WAIT: one write in flight already exceeds it


class GatedEmbedder:
    """Documents wait for `gate`, then DELAY_S; `entered` is set when a document call begins.
    Queries pass straight through (getDecision and searches never wait)."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.space = inner.space
        self.dimension = inner.dimension
        self.gate = threading.Event()
        self.entered = threading.Event()

    def embed(self, texts: Sequence[str], purpose: Purpose = "document") -> list[list[float]]:
        if purpose == "document":
            self.entered.set()
            assert self.gate.wait(30), "the test never opened the gate"
            time.sleep(DELAY_S)
        return self._inner.embed(texts, purpose)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def gated(settings_factory: Any, make_adapters: Callable[[], Any]) -> Iterator[tuple[Any, GatedEmbedder]]:
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from cstp.app import create_app

    settings = settings_factory(write_max_wait=MAX_WAIT_S)
    adapters = make_adapters()
    if adapters is None:  # tests/integration: the adapters the settings choose (Chroma, ONNX)
        from cstp.app import Adapters, build_embedder, build_store

        inner = build_embedder(settings)
        adapters = Adapters(build_store(settings, inner.space), inner)
    embedder = GatedEmbedder(adapters.embedder)
    app = create_app(settings, adapters=replace(adapters, embedder=embedder))
    with TestClient(app) as client:
        yield client, embedder


def _record(client: Any, n: int) -> dict[str, Any]:
    reply: dict[str, Any] = rpc(
        client, "cstp.recordDecision", {"decision": f"Queue webhook deliveries, take {n}"}
    )
    return reply


def _started(embedder: GatedEmbedder, pool: ThreadPoolExecutor, fn: Callable[[], Any]) -> Any:
    """Submit `fn` and return its future once it has reached the (closed) embedding gate."""
    embedder.entered.clear()
    future = pool.submit(fn)
    assert embedder.entered.wait(30)
    return future


def test_writes_over_the_bound_are_refused_at_once_and_accepted_ones_are_all_stored(
    gated: tuple[Any, GatedEmbedder],
) -> None:
    client, embedder = gated
    with ThreadPoolExecutor(8) as pool:
        # Teach the admission control the service time: a write held in the embedder, a second
        # queued behind it, then both released: the second finishes about DELAY_S after the first.
        a = _started(embedder, pool, lambda: _record(client, 1))
        b = pool.submit(_record, client, 2)
        embedder.gate.set()
        warm = [a.result(30), b.result(30)]
        # Hold one write in the embedder; everything sent now would wait behind it.
        embedder.gate.clear()
        held = _started(embedder, pool, lambda: _record(client, 3))
        refused = [_record(client, 10 + i) for i in range(6)]  # answered while `held` is blocked
        assert not held.done()
        embedder.gate.set()
        accepted = [*warm, held.result(30)]

    for reply in refused:
        error = reply["error"]
        assert error["code"] == -32603
        assert error["message"] == "Server busy: too many writes queued; retry later"
        assert error["data"]["component"] == "writes"
        assert error["data"]["retryAfterMs"] >= 1
    ids = [reply["result"]["id"] for reply in accepted]
    for rid in ids:
        got = rpc(client, "cstp.getDecision", {"id": rid})["result"]
        assert got["found"] is True and got["decision"]["id"] == rid
    # Nothing of a refused write was stored: the accepted ones are all there is.
    listed = rpc(client, "cstp.queryDecisions", {"query": "", "limit": 50})["result"]["decisions"]
    assert sorted(d["id"] for d in listed) == sorted(ids)
    metrics = client.get("/metrics").text
    assert "cstp_writes_refused 6.0" in metrics and "cstp_writes_in_flight 0.0" in metrics
    with ThreadPoolExecutor(1) as pool:  # the queue drained: a write is admitted again
        assert "result" in pool.submit(_record, client, 99).result(30)


def test_a_write_alone_is_never_refused(gated: tuple[Any, GatedEmbedder]) -> None:
    client, embedder = gated
    embedder.gate.set()
    for n in range(4):  # one at a time: each is slow (DELAY_S > MAX_WAIT_S) but queues behind nothing
        assert "result" in _record(client, n)
