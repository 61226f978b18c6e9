"""Fixtures for the port adapters: a real Chroma server on loopback for the whole session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.chroma_server import chroma_executable, start_chroma_server, stop_chroma_server


@pytest.fixture(scope="session")
def chroma_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Chroma server started for this session (`chroma run` on 127.0.0.1).

    Skipped when the `chroma` executable is missing, except in CI (env `CI` or
    `CSTP_REQUIRE_CHROMA` set), where a missing server must fail the run instead of silently
    shrinking the suite.
    """
    if chroma_executable() is None:
        reason = "the chroma executable is not installed next to the Python interpreter"
        if os.environ.get("CI") or os.environ.get("CSTP_REQUIRE_CHROMA"):
            pytest.fail(f"the Chroma server tests are required here: {reason}")
        pytest.skip(reason)
    url, process = start_chroma_server(tmp_path_factory.mktemp("chroma-server") / "data")
    try:
        yield url
    finally:
        stop_chroma_server(process)
