"""Shared fixtures: a clean environment for every test, settings and a running app.

Every test starts without any cstp-related environment variable, so a developer's shell (or CI's)
cannot change what a test means. Tests build `Settings(...)` explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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
        keep = name in ("CSTP_REQUIRE_DOCKER", "CSTP_REQUIRE_CHROMA")
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


@pytest.fixture
def client(settings_factory: Any) -> Iterator[Any]:
    """A TestClient on a full app: embedded Chroma in tmp, the offline embedder, packaged rules."""
    from fastapi.testclient import TestClient

    from cstp.app import create_app

    with TestClient(create_app(settings_factory())) as c:
        yield c


def rpc(client: Any, method: str, params: dict[str, Any] | None = None, id: Any = 1) -> Any:
    """POST one JSON-RPC call with the test token; returns the decoded reply."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
    if params is not None:
        body["params"] = params
    response = client.post("/cstp", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()
