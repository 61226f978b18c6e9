"""Integration fixtures: the session's real Chroma server (shared with the port contract suite)."""

from tests.adapters.conftest import chroma_server_url

__all__ = ["chroma_server_url"]
