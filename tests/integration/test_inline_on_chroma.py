"""List-mode queries on the event loop, on embedded Chroma: answered from memory there, and run
again on a worker thread when they would call Chroma (domain.waiting).

A Chroma call on the event loop would stall every other request of the process for as long as
it takes (up to the store timeout when the Chroma server hangs), so the test records, for every
Chroma call, whether it ran on the event loop's thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cstp.adapters.chroma.errors import ChromaErrors
from cstp.adapters.chroma.store import ChromaStore
from cstp.app import Adapters, create_app
from cstp.domain.browsing import BrowseService
from cstp.domain.records import Decision, utcnow
from cstp.settings import Settings
from tests.conftest import TOKEN, rpc
from tests.fakes import HashEmbedder


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[bool]]:
    """For each Chroma call and each list-mode answer from the catalogue: on the loop or not."""
    seen: dict[str, list[bool]] = {"chroma": [], "answers": []}
    real_call = ChromaErrors.call
    real_newest = BrowseService.newest

    @contextmanager
    def call(self: ChromaErrors, action: str) -> Iterator[None]:
        with real_call(self, action):
            seen["chroma"].append(_on_loop())  # reached only when the call is made
            yield

    def newest(self: BrowseService, *args: Any) -> Any:
        seen["answers"].append(_on_loop())
        return real_newest(self, *args)

    monkeypatch.setattr(ChromaErrors, "call", call)
    monkeypatch.setattr(BrowseService, "newest", newest)
    return seen


def _listed(client: TestClient) -> list[str]:
    reply = rpc(client, "cstp.queryDecisions", {"query": "", "limit": 5})
    assert "result" in reply, reply
    return [row["id"] for row in reply["result"]["decisions"]]


def test_list_pages_come_from_memory_on_the_loop_and_from_chroma_only_on_a_thread(
    tmp_path: Path, watched: dict[str, list[bool]]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", auth_tokens=f"tester:{TOKEN}", guardrails_watch=False)
    store = ChromaStore.embedded(tmp_path / "chroma", prefix="cstp", space=HashEmbedder.space)
    with TestClient(create_app(settings, adapters=Adapters(store, HashEmbedder()))) as client:
        recorded = [
            rpc(client, "cstp.recordDecision", {"decision": f"Adopt plan {n}", "confidence": 0.7,
                                                "category": "architecture"})["result"]["id"]
            for n in range(3)
        ]  # fmt: skip
        _listed(client)  # the catalogue's first load, if a request still had to wait for it

        watched["chroma"].clear(), watched["answers"].clear()
        assert set(_listed(client)) == set(recorded)
        # This process's own writes: the page's records are in the recent-records cache.
        assert watched == {"chroma": [], "answers": [True]}

        # A write made around the write path (a tool's): the catalogue must read the store before
        # it answers, which it may not do on the loop. The call runs again on a worker thread.
        outside = Decision(id="tool0001", decision="Imported by a tool", category="process",
                           confidence=0.5, stakes="low", date=utcnow())  # fmt: skip
        store.save([(outside, HashEmbedder().embed([outside.document()])[0])])
        watched["chroma"].clear(), watched["answers"].clear()
        assert "tool0001" in _listed(client)
        assert watched["answers"] == [True, False]  # tried on the loop, answered on a thread
        assert watched["chroma"] and not any(watched["chroma"])  # every Chroma call off the loop

        # Logged and counted once, by the run that answered.
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
        line = next(x for x in metrics.splitlines() if x.startswith("cstp_rpc_requests_total{")
                    and 'method="cstp.queryDecisions"' in x and 'outcome="ok"' in x)  # fmt: skip
        assert line.endswith(" 3.0"), line
