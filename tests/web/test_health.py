"""Readiness states: NOT_READY while the store's index check runs, OK after, ERROR on failure."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient

from cstp.adapters.memory_store import MemoryStore
from cstp.app import Adapters, create_app
from cstp.web.health import ComponentStatus, Probe, run_probes
from tests.fakes import HashEmbedder


class SlowCheckStore(MemoryStore):
    """A memory store whose start-up index check waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__(HashEmbedder.space)
        self.release = threading.Event()

    def record_versions(self) -> dict[str, int]:
        self.release.wait(10)
        return super().record_versions()


def test_store_is_not_ready_while_its_index_is_checked_and_the_server_still_serves(
    settings_factory: Any,
) -> None:
    store = SlowCheckStore()
    with TestClient(create_app(settings_factory(), adapters=Adapters(store, HashEmbedder()))) as c:
        try:
            response = c.get("/ready")
            assert response.status_code == 200  # ready at once by design; the check is background work
            store_status = response.json()["components"]["store"]
            assert store_status.pop("catalogue") in {"loading", "loaded"}  # loads beside the check
            assert store_status == {"status": "NOT_READY", "mode": "embedded", "index": "checking"}
        finally:
            store.release.set()


def test_a_probe_that_raises_is_error_with_its_fixed_text() -> None:
    def broken() -> ComponentStatus:
        raise RuntimeError("http://secret-host:1234 refused")

    out = run_probes([Probe("x", broken, "x unreachable"), Probe("y", lambda: ComponentStatus("OK"), "-")])
    assert out["x"].to_wire() == {"status": "ERROR", "error": "x unreachable"}
    assert out["y"].to_wire() == {"status": "OK"}
