"""`cstp-server` / `python -m cstp`: parse flags, build settings and the app, serve.

Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 startup failed (the port cannot be bound, the
embedded data directory is in use by another process, a guardrail file is broken), 2 invalid
configuration (tokens included, and CSTP_WORKERS > 1 without a Chroma server: check-config refuses
what the server would refuse).

Order at start: settings → in embedded mode, lock the data directory (runtime.data_lock: a second
process on it fails here) → bind the port (a port in use fails here, before anything says "ready")
→ with CSTP_WORKERS > 1, fork the workers (runtime.workers), each continuing from here on a
listening socket of its own (SO_REUSEPORT) → build the app → serve on the bound socket; the
lifespan logs "cstp ready". At SIGTERM the process first drains for CSTP_SHUTDOWN_DRAIN_S
(/ready 503, still serving: web.drain), then uvicorn stops accepting, lets in-flight requests
finish for CSTP_SHUTDOWN_TIMEOUT, cuts the rest (their clients get a JSON-RPC error), closes the
components; a handler thread still running then does not hold the process: it exits at the
deadline.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

# Telemetry off before onnxruntime or chromadb are imported (their import sends nothing then).
for _name, _value in (
    ("ORT_DISABLE_TELEMETRY", "1"),
    ("ANONYMIZED_TELEMETRY", "False"),
    ("HF_HUB_OFFLINE", "1"),
):
    os.environ.setdefault(_name, _value)

# Before any thread starts: glibc's arenas and thresholds held fixed (runtime.allocator says why).
from cstp.runtime.allocator import bound_malloc  # noqa: E402

bound_malloc(os.environ)

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
    p.add_argument(
        "--workers",
        type=int,
        help="server processes on the port (CSTP_WORKERS, default 1; more than one needs CHROMA_URL)",
    )
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
    overrides = {
        k: v
        for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers))
        if v is not None
    }
    try:
        settings = load_settings(args.config, **overrides)
    except ConfigError as e:
        return _fail(2, str(e))
    logs.configure(settings.log_level, _secrets(settings))

    if args.command == "check-config":
        return _check_config(settings)

    refusal = workers_refusal(settings)
    if refusal is not None:
        return _fail(2, refusal)
    from cstp.runtime.data_lock import DataDirInUse, lock_data_dir
    from cstp.web.server import bind

    data_lock = None  # held open (locked) until the process exits
    if settings.store_mode == "embedded":
        try:
            data_lock = lock_data_dir(settings.data_dir)
        except DataDirInUse as e:
            logger.error("data directory in use", extra={"data_dir": str(settings.data_dir)})
            return _fail(1, str(e))
        except OSError as e:
            return _fail(1, f"cannot lock the data directory {settings.data_dir}: {e.strerror or e}")
    try:
        try:
            sock = bind(settings.host, settings.port)
        except OSError as e:
            logger.error("cannot listen on %s:%d: %s", settings.host, settings.port, e.strerror or e)
            return _fail(1, f"cannot listen on {settings.host}:{settings.port}: {e.strerror or e}")
        return _serve(settings, sock) if settings.workers == 1 else _supervise(settings, sock)
    finally:
        if data_lock is not None:
            data_lock.close()


def workers_refusal(settings: Settings) -> str | None:
    """Why these settings cannot run CSTP_WORKERS processes, or None."""
    if settings.workers > 1 and settings.store_mode == "embedded":
        return (
            f"CSTP_WORKERS={settings.workers} needs a Chroma server: embedded ChromaDB is one "
            "process's files, and other processes' writes would stay invisible to its search. "
            "Set CHROMA_URL to a Chroma server (e.g. http://chromadb:8000), or CSTP_WORKERS=1"
        )
    return None


def _supervise(settings: Settings, sock: socket.socket) -> int:
    """CSTP_WORKERS > 1: fork the workers (runtime.workers), each listening on its own socket of the
    port (SO_REUSEPORT: the kernel spreads connections evenly; `web.server.reserve`)."""
    from cstp.runtime.workers import Supervisor
    from cstp.web.auth import load_or_generate, parse_tokens
    from cstp.web.server import bind, reserve

    try:
        raw = settings.auth_tokens.get_secret_value() if settings.auth_tokens is not None else ""
        configured = bool(raw) and bool(parse_tokens(raw))
    except ConfigError as e:
        sock.close()
        return _fail(2, str(e))
    if not configured:
        # Generated once here: workers generating it each would race and disagree.
        load_or_generate(settings.token_file)
    sock.close()  # the port was free: from now on the reservation holds it
    try:
        held = reserve(settings.host, settings.port)
    except OSError as e:
        return _fail(1, f"cannot listen on {settings.host}:{settings.port}: {e.strerror or e}")

    def worker(serving: Callable[[], None]) -> int:
        held.close()  # the supervisor's copy keeps the reservation
        try:
            own = bind(settings.host, settings.port, reuse_port=True)
        except OSError as e:
            return _fail(1, f"cannot listen on {settings.host}:{settings.port}: {e.strerror or e}")
        return _serve(settings, own, on_serving=serving)

    # A worker drains (CSTP_SHUTDOWN_DRAIN_S) before its graceful stop: both count to its deadline.
    supervisor = Supervisor(
        settings.workers, worker, shutdown_timeout=settings.shutdown_drain + settings.shutdown_timeout
    )
    code = supervisor.run()
    held.close()
    return code


def _serve(settings: Settings, sock: socket.socket, *, on_serving: Callable[[], None] | None = None) -> int:
    """Build the app and serve on `sock` until SIGTERM/SIGINT (one server process). `on_serving`
    is called once, when the server has started (the lifespan ran) and accepts connections."""
    import uvicorn

    from cstp.app import create_app
    from cstp.runtime.interpreter import tune_for_serving
    from cstp.web.drain import DrainingServer
    from cstp.web.server import guarded_protocol

    try:
        app = create_app(settings)
    except ConfigError as e:
        sock.close()
        return _fail(2, str(e))
    except CstpError as e:
        sock.close()
        logger.error("startup failed: %s", e)
        return _fail(1, f"startup failed: {e}")
    tune_for_serving()  # runtime.interpreter says why
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        server_header=False,
        http=guarded_protocol(settings.max_header_bytes, settings.max_headers, settings.request_timeout),
        # The closers and the exit need a moment of the deadline too.
        timeout_graceful_shutdown=max(0.2, settings.shutdown_timeout - _CLOSE_SECONDS),  # type: ignore[arg-type]
        lifespan="on",
    )
    server = DrainingServer(config, app.state.web.drain, settings.shutdown_drain, on_serving)
    # uvicorn restores the previous SIGTERM/SIGINT handlers after a graceful stop and re-raises the
    # signal; with the default handlers that turns a clean shutdown into exit status 143. A graceful
    # stop is a success, so the handlers it restores are no-ops and the process exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stopped_gracefully)
    server.run(sockets=[sock])
    code = 0 if server.started else 1
    _exit_if_work_remains(code)
    return code


_CLOSE_SECONDS = 0.3  # of CSTP_SHUTDOWN_TIMEOUT, left for closing the components and exiting
_JOIN_SECONDS = 0.2


def _exit_if_work_remains(code: int) -> None:
    """The shutdown deadline is the deadline: a handler thread still running (its request was cut
    and answered) would otherwise hold the interpreter's exit until it finishes. Every component
    is closed by now, and an acknowledged write is already durable (docs/OPERATIONS.md)."""
    until = time.monotonic() + _JOIN_SECONDS
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        thread.join(max(0.0, until - time.monotonic()))
    if any(
        t.is_alive() and not t.daemon and t is not threading.current_thread() for t in threading.enumerate()
    ):
        logger.warning("exiting with request work still running past the shutdown deadline")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _check_config(settings: Settings) -> int:
    """Validate what the server validates at start, without starting it: tokens and guardrails."""
    from cstp.domain.guardrails import load_rules
    from cstp.web.auth import parse_tokens

    refusal = workers_refusal(settings)
    if refusal is not None:
        return _fail(2, refusal)

    if settings.auth_tokens is not None:
        try:
            pairs = parse_tokens(settings.auth_tokens.get_secret_value())
        except ConfigError as e:
            return _fail(2, str(e))
        tokens = f"{len(pairs)} token(s)" if pairs else "no token: one will be generated"
    else:
        tokens = "no token: one will be generated"
    try:
        rules = load_rules(settings.guardrail_dirs)
    except CstpError as e:
        return _fail(1, str(e))
    sys.stdout.write(f"configuration OK; {tokens}; {len(rules.rules)} guardrails loaded\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
