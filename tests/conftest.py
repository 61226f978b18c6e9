"""Shared fixtures: a clean environment for every test, settings and a running app.

Every test starts without any cstp-related environment variable, so a developer's shell (or CI's)
cannot change what a test means. Tests build `Settings(...)` explicitly.

Wire tests (tests/web, tests/methods, tests/rpc) run the app on `MemoryStore` and the hashing
`HashEmbedder` (`make_adapters`); tests/integration overrides `make_adapters` to run the same tests
on embedded Chroma and the ONNX model (`tests/integration/test_wire_on_real_adapters.py`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

_PREFIXES = ("CSTP_", "CHROMA_", "GEMINI_", "GUARDRAILS_", "EMBEDDING_")
_NAMES = {"LOG_LEVEL"}
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        keep = name in (
            "CSTP_REQUIRE_DOCKER",
            "CSTP_REQUIRE_CHROMA",
            "CSTP_REQUIRE_BROWSER",
            "CSTP_REQUIRE_HAPROXY",
        )
        if not keep and (name.startswith(_PREFIXES) or name in _NAMES):
            monkeypatch.delenv(name)


@pytest.fixture
def settings_factory(tmp_path: Path) -> Any:
    """Build Settings with a private data dir, a known token and no guardrail dirs by default."""
    from cstp.settings import Settings

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "auth_tokens": f"tester:{TOKEN}",
            "guardrails_watch": False,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture(scope="session")
def make_adapters() -> Callable[[], Any]:
    """Fresh adapters for one app: a memory store and the hashing embedder (None: the settings')."""
    from cstp.adapters.memory_store import MemoryStore
    from cstp.app import Adapters
    from tests.fakes import HashEmbedder

    return lambda: Adapters(MemoryStore(HashEmbedder.space), HashEmbedder())


@pytest.fixture
def app_factory(settings_factory: Any, make_adapters: Callable[[], Any]) -> Any:
    """`make(**settings_overrides)` → an app on the adapters of `make_adapters`."""
    from cstp.app import create_app

    return lambda **overrides: create_app(settings_factory(**overrides), adapters=make_adapters())


@pytest.fixture
def client(app_factory: Any) -> Iterator[Any]:
    """A TestClient on a full app with the packaged rules (adapters: see `make_adapters`)."""
    from fastapi.testclient import TestClient

    with TestClient(app_factory()) as c:
        yield c


def rpc(client: Any, method: str, params: dict[str, Any] | None = None, id: Any = 1) -> Any:
    """POST one JSON-RPC call with the test token; returns the decoded reply."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
    if params is not None:
        body["params"] = params
    response = client.post("/cstp", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()
