"""queryDecisions honours `bridgeSide`/`bridge_side`: the semantic query is embedded as the
"Structure: ..." or "Function: ..." line of the bridge definition a document carries, as the
reference does; keyword search and unknown sides use the query as given."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cstp.adapters.memory_store import MemoryStore
from cstp.app import Adapters, create_app
from cstp.domain.ports import Purpose
from tests.conftest import rpc
from tests.fakes import HashEmbedder


class RecordingEmbedder(HashEmbedder):
    """The hashing embedder, remembering every text embedded as a query."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def embed(self, texts: Sequence[str], purpose: Purpose = "document") -> list[list[float]]:
        if purpose == "query":
            self.queries.extend(texts)
        return super().embed(texts, purpose)


@pytest.fixture
def recorded(settings_factory: Any) -> Iterator[tuple[Any, RecordingEmbedder]]:
    embedder = RecordingEmbedder()
    app = create_app(settings_factory(), adapters=Adapters(MemoryStore(embedder.space), embedder))
    with TestClient(app) as client:
        for decision, bridge in (
            ("Put a queue in front of the billing API", {"structure": "message queue", "function": "absorb"}),
            ("Cache the catalogue", {"structure": "edge cache", "function": "cut latency for shoppers"}),
        ):
            reply = rpc(client, "cstp.recordDecision", {"decision": decision, "bridge": bridge})
            assert reply["result"]["success"] is True
        yield client, embedder


@pytest.mark.parametrize(
    ("params", "embedded"),
    [
        ({"bridgeSide": "structure"}, "Structure: latency"),
        ({"bridge_side": "function"}, "Function: latency"),
        ({"bridgeSide": "function", "retrievalMode": "hybrid"}, "Function: latency"),
        ({}, "latency"),
        ({"bridgeSide": "sideways"}, "latency"),
    ],
)
def test_bridge_side_prefixes_the_semantic_query(
    recorded: tuple[Any, RecordingEmbedder], params: dict[str, Any], embedded: str
) -> None:
    client, embedder = recorded
    reply = rpc(client, "cstp.queryDecisions", {"query": "latency", **params})
    assert "result" in reply, reply
    assert embedder.queries == [embedded]
    rows = reply["result"]["decisions"]
    assert rows and all("bridge" in row for row in rows)  # each hit shows its bridge


def test_keyword_mode_searches_the_query_as_given(recorded: tuple[Any, RecordingEmbedder]) -> None:
    client, embedder = recorded
    params = {"query": "catalogue", "retrievalMode": "keyword", "bridgeSide": "structure"}
    rows = rpc(client, "cstp.queryDecisions", params)["result"]["decisions"]
    assert embedder.queries == [] and [r["title"] for r in rows] == ["Cache the catalogue"]
