"""cstp: a self-hosted decision-intelligence server for AI agents (CSTP JSON-RPC protocol)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cstp")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
