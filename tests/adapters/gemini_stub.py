"""A loopback stand-in for the Gemini embeddings REST API (the real one cannot be reached here).

It speaks the real wire format of `POST /v1beta/models/{model}:batchEmbedContents`, checks the
`x-goog-api-key` header the way Google does (missing → 403 PERMISSION_DENIED, wrong → 400
INVALID_ARGUMENT with reason API_KEY_INVALID), rejects batches over 100 and malformed requests,
and answers deterministic, deliberately non-unit vectors of `outputDimensionality` length.

    with GeminiStub() as stub:
        stub.fail_next(429, retry_after=0)      # then answers normally
        stub.fail_always(500)                   # every request fails
        embedder = GeminiEmbedder(api_key=stub.api_key, base_url=stub.base_url, ...)
        stub.requests                           # what was received, in order
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

NATIVE_DIMENSIONS = 3072  # gemini-embedding-001 without outputDimensionality
MAX_BATCH = 100
_PATH = re.compile(r"^/v1beta/models/([A-Za-z0-9._-]+):batchEmbedContents$")
_TASK_TYPES = {
    "RETRIEVAL_DOCUMENT", "RETRIEVAL_QUERY", "SEMANTIC_SIMILARITY", "CLASSIFICATION",
    "CLUSTERING", "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY",
}  # fmt: skip
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
}  # fmt: skip


@dataclass
class Received:
    """One request as the stub saw it."""

    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    """A scripted failure: HTTP status, optional Retry-After, optional raw body."""

    status: int
    retry_after: str | None = None
    body: Any = None


@dataclass
class _State:
    api_key: str
    requests: list[Received] = field(default_factory=list)
    script: deque[Reply] = field(default_factory=deque)
    always: Reply | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def stub_vector(text: str, task_type: str, dimensions: int) -> list[float]:
    """The stub's embedding of `text`: deterministic, task-dependent, length ≈ 3 (not unit)."""
    seed = int.from_bytes(hashlib.sha256(f"{task_type}\0{text}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    return [3.0 * rng.gauss(0.0, 1.0) / dimensions**0.5 for _ in range(dimensions)]


def error_body(status: int, message: str, reason: str | None = None) -> dict[str, Any]:
    """Google's error envelope."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if reason is not None:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
            }
        ]
    return {"error": error}


class GeminiStub:
    """A ThreadingHTTPServer on 127.0.0.1:<free port> answering like the Gemini API."""

    def __init__(self, api_key: str = "stub-gemini-key-0123456789") -> None:
        self._state = _State(api_key=api_key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self._state))
        self._server.daemon_threads = True
        # A short poll interval makes stop() (shutdown) return quickly after each test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def api_key(self) -> str:
        return self._state.api_key

    @property
    def base_url(self) -> str:
        """What GEMINI_BASE_URL would be: scheme, host, port and the API version."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1beta"

    @property
    def requests(self) -> list[Received]:
        with self._state.lock:
            return list(self._state.requests)

    def fail_next(self, status: int, *, retry_after: str | float | None = None, times: int = 1) -> None:
        """Answer the next `times` requests with `status` (Google's error body), then normally."""
        with self._state.lock:
            for _ in range(times):
                after = None if retry_after is None else str(retry_after)
                self._state.script.append(Reply(status, after))

    def fail_always(self, status: int, body: Any = None) -> None:
        """Answer every request with `status` (and `body`, default Google's error envelope)."""
        with self._state.lock:
            self._state.always = Reply(status, None, body)

    def start(self) -> GeminiStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> GeminiStub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real API

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            """Silence the per-request stderr log."""

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw or b"null")
            except ValueError:
                body = None
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
                scripted = state.script.popleft() if state.script else state.always
            if scripted is not None:
                payload = scripted.body
                if payload is None:
                    payload = error_body(scripted.status, f"stub failure {scripted.status}")
                headers = {"Retry-After": scripted.retry_after} if scripted.retry_after else {}
                self._send(scripted.status, payload, headers)
                return
            status, payload = self._answer(body)
            self._send(status, payload)

        def _answer(self, body: Any) -> tuple[int, dict[str, Any]]:
            key = self.headers.get("x-goog-api-key")
            if not key:
                msg = "Method doesn't allow unregistered callers (callers without established identity)."
                return 403, error_body(403, msg)
            if key != state.api_key:
                msg = "API key not valid. Please pass a valid API key."
                return 400, error_body(400, msg, "API_KEY_INVALID")
            match = _PATH.match(self.path)
            if match is None:
                return 404, error_body(404, f"path {self.path} not found")
            model = match.group(1)
            requests = body.get("requests") if isinstance(body, dict) else None
            if not isinstance(requests, list) or not requests:
                return 400, error_body(400, "requests must be a non-empty list")
            if len(requests) > MAX_BATCH:
                return 400, error_body(400, f"at most {MAX_BATCH} requests can be in one batch")
            embeddings = []
            for r in requests:
                try:
                    assert r["model"] == f"models/{model}", "request model differs from the URL"
                    text = r["content"]["parts"][0]["text"]
                    assert isinstance(text, str), "text must be a string"
                    task = r.get("taskType", "TASK_TYPE_UNSPECIFIED")
                    assert task in _TASK_TYPES, f"unknown taskType {task}"
                    dims = int(r.get("outputDimensionality", NATIVE_DIMENSIONS))
                    assert 1 <= dims <= NATIVE_DIMENSIONS, "outputDimensionality out of range"
                except (KeyError, IndexError, TypeError, ValueError, AssertionError) as e:
                    return 400, error_body(400, f"invalid request: {e}")
                embeddings.append({"values": stub_vector(text, task, dims)})
            return 200, {"embeddings": embeddings}

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
