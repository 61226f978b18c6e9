"""`cstp-server` / `python -m cstp`: parse flags, build settings and the app, serve.

Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 startup failed (a dependency or guardrail file),
2 invalid configuration.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

# Telemetry off before onnxruntime or chromadb are imported (their import sends nothing then).
for _name, _value in (
    ("ORT_DISABLE_TELEMETRY", "1"),
    ("ANONYMIZED_TELEMETRY", "False"),
    ("HF_HUB_OFFLINE", "1"),
):
    os.environ.setdefault(_name, _value)

from cstp import __version__, logs  # noqa: E402
from cstp.domain.errors import ConfigError, CstpError  # noqa: E402
from cstp.settings import Settings, load_settings  # noqa: E402

logger = logging.getLogger("cstp")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cstp-server",
        description="cstp: decision-intelligence server for AI agents (CSTP JSON-RPC over HTTP).",
        epilog="Settings come from CLI flags > environment (and *_FILE secrets) > --config YAML "
        "> defaults. See docs/CONFIG.md.",
    )
    p.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "check-config", "mcp"],
        help="serve (default); check-config: validate settings and guardrails, then exit; "
        "mcp: an MCP server on stdin/stdout forwarding to the cstp server at CSTP_URL (token CSTP_TOKEN)",
    )
    p.add_argument("--host", help="bind address (CSTP_HOST, default 0.0.0.0)")
    p.add_argument("--port", type=int, help="port (CSTP_PORT, default 8100)")
    p.add_argument("--config", type=Path, help="YAML settings file (CSTP_CONFIG)")
    p.add_argument("--version", action="version", version=f"cstp {__version__}")
    return p


def _fail(code: int, message: str) -> int:
    sys.stderr.write(f"cstp-server: {message}\n")
    return code


def _secrets(settings: Settings) -> list[str]:
    """Every configured secret, and each token alone, for the log redaction filter."""
    values = [
        s.get_secret_value()
        for s in (settings.auth_tokens, settings.chroma_token, settings.gemini_api_key)
        if s is not None
    ]
    if settings.auth_tokens is not None:
        entries = settings.auth_tokens.get_secret_value().split(",")
        values += [entry.partition(":")[2].strip() for entry in entries]
    return values


def _stopped_gracefully(signum: int, frame: object) -> None:
    """Receives the signal uvicorn re-raises after it has already shut down cleanly."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "mcp":  # a client of a running server: none of the server's settings apply
        from cstp.web.mcp import stdio

        return stdio.main(__version__)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    try:
        settings = load_settings(args.config, **overrides)
    except ConfigError as e:
        return _fail(2, str(e))
    logs.configure(settings.log_level, _secrets(settings))

    if args.command == "check-config":
        from cstp.domain.guardrails import load_rules

        try:
            rules = load_rules(settings.guardrail_dirs)
        except CstpError as e:
            return _fail(1, str(e))
        sys.stdout.write(f"configuration OK; {len(rules.rules)} guardrails loaded\n")
        return 0

    import uvicorn

    from cstp.app import create_app

    try:
        app = create_app(settings)
    except ConfigError as e:
        return _fail(2, str(e))
    except CstpError as e:
        logger.error("startup failed: %s", e)
        return _fail(1, f"startup failed: {e}")
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=max(1, int(settings.shutdown_timeout)),
        lifespan="on",
    )
    server = uvicorn.Server(config)
    # uvicorn restores the previous SIGTERM/SIGINT handlers after a graceful stop and re-raises the
    # signal; with the default handlers that turns a clean shutdown into exit status 143. A graceful
    # stop is a success, so the handlers it restores are no-ops and the process exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stopped_gracefully)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
