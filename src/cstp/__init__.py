"""cstp: a self-hosted decision-intelligence server for AI agents (CSTP JSON-RPC protocol).

The public surface is `__all__` (pinned by a test). `create_app` and `Settings` are imported on
first use, so `import cstp` stays cheap and the CLI can switch telemetry off before chromadb or
onnxruntime are imported.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("cstp")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from cstp.app import create_app
    from cstp.settings import Settings

__all__ = ["Settings", "__version__", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from cstp.app import create_app

        return create_app
    if name == "Settings":
        from cstp.settings import Settings

        return Settings
    raise AttributeError(f"module 'cstp' has no attribute {name!r}")
