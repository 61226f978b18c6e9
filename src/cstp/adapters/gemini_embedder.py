"""Gemini embeddings over REST (`models/{model}:batchEmbedContents`), with httpx and tenacity.

Wire format (Google AI REST API, v1beta):

    POST {base_url}/models/{model}:batchEmbedContents      header x-goog-api-key: KEY
    {"requests": [{"model": "models/{model}", "content": {"parts": [{"text": "..."}]},
                   "taskType": "RETRIEVAL_DOCUMENT", "outputDimensionality": 768}, ...]}
    → {"embeddings": [{"values": [...]}, ...]}                     (in request order)

Documents use RETRIEVAL_DOCUMENT and queries RETRIEVAL_QUERY: Gemini embeds them asymmetrically.
Vectors are L2-normalised here because Gemini's truncated dimensions (outputDimensionality below
the model's native 3072) are not unit length.

Errors: 429, 5xx and transport failures are retried with exponential backoff (honouring
Retry-After, capped); 401/403, or a 400 whose details say API_KEY_INVALID, become
`EmbedderAuthError`; anything else `EmbedderUnavailable`. The key never appears in a message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import numpy as np
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from cstp.domain.errors import EmbedderAuthError, EmbedderUnavailable
from cstp.domain.ports import Purpose

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
MAX_BATCH = 100  # batchEmbedContents accepts at most 100 requests
_TASK_TYPES: dict[str, str] = {"document": "RETRIEVAL_DOCUMENT", "query": "RETRIEVAL_QUERY"}
_UNSAFE = re.compile(r"[^a-zA-Z0-9._-]+")


class _Retryable(Exception):
    """A failure worth another attempt (429, 5xx, network); `retry_after` from the server."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class GeminiEmbedder:
    """The Gemini `Embedder`. Thread-safe: one pooled httpx client shared by all callers."""

    def __init__(
        self,
        api_key: str,
        model: str = "gemini-embedding-001",
        dimensions: int = 768,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        max_retries: int = 4,
        batch_size: int = MAX_BATCH,
        *,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
    ) -> None:
        """Configure the client; nothing is sent until `embed`.

        `max_retries` counts attempts after the first. Backoff starts at `backoff` seconds and
        doubles (with jitter); no wait, not even a server's Retry-After, exceeds `max_backoff`,
        so a request never hangs for minutes behind a rate limit.
        """
        if not api_key:
            raise ValueError("a Gemini API key is required")
        if dimensions < 1:
            raise ValueError("dimensions must be positive")
        self._key = api_key
        self._model = model.removeprefix("models/")
        self._dimensions = dimensions
        self._batch_size = max(1, min(batch_size, MAX_BATCH))
        self._max_retries = max(0, max_retries)
        self._backoff = wait_exponential_jitter(multiplier=backoff, max=max_backoff, jitter=backoff)
        self._max_backoff = max_backoff
        self._path = f"models/{self._model}:batchEmbedContents"
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            timeout=timeout,
            headers={"x-goog-api-key": api_key},
        )

    @property
    def space(self) -> str:
        """`gemini-<model>-<dimensions>`, reduced to collection-name-safe characters."""
        model = _UNSAFE.sub("-", self._model).strip("-._") or "model"
        return f"gemini-{model}-{self._dimensions}"

    @property
    def dimension(self) -> int:
        """The requested `outputDimensionality`; every returned vector has this length."""
        return self._dimensions

    def embed(self, texts: Sequence[str], purpose: Purpose = "document") -> list[list[float]]:
        """Unit vectors in input order, sent in batches of at most 100 texts."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(self._embed_batch(texts[start : start + self._batch_size], purpose))
        return vectors

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _embed_batch(self, texts: Sequence[str], purpose: Purpose) -> list[list[float]]:
        """One batchEmbedContents call, retried on transient failures."""
        body = {
            "requests": [
                {
                    "model": f"models/{self._model}",
                    "content": {"parts": [{"text": text}]},
                    "taskType": _TASK_TYPES[purpose],
                    "outputDimensionality": self._dimensions,
                }
                for text in texts
            ]
        }
        retrying = Retrying(
            stop=stop_after_attempt(self._max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._post(body, len(texts))
        except _Retryable as e:
            attempts = self._max_retries + 1
            raise EmbedderUnavailable(
                f"Gemini embedding failed after {attempts} attempt(s): {e.reason}"
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _post(self, body: dict[str, Any], expected: int) -> list[list[float]]:
        """Send one request and decode its vectors; classify every failure."""
        try:
            response = self._client.post(self._path, json=body)
        except httpx.TimeoutException:
            raise _Retryable("timed out") from None
        except httpx.TransportError as e:
            raise _Retryable(f"network error ({type(e).__name__})") from None
        status = response.status_code
        if status == 200:
            return self._vectors(response, expected)
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}", _retry_after(response))
        code, reasons, message = _api_error(response)
        if status in (401, 403) or "API_KEY_INVALID" in reasons:
            raise EmbedderAuthError(f"Gemini rejected the API key: {status} {code}".strip())
        detail = self._redact(message)[:200]
        raise EmbedderUnavailable(f"Gemini rejected the request: {status} {code}: {detail}")

    def _vectors(self, response: httpx.Response, expected: int) -> list[list[float]]:
        """The normalised vectors of a 200 answer, checked for count and dimension."""
        try:
            embeddings = response.json()["embeddings"]
            matrix = np.asarray([e["values"] for e in embeddings], dtype=np.float64)
        except (ValueError, KeyError, TypeError):
            raise EmbedderUnavailable("Gemini returned an unreadable embeddings response") from None
        if matrix.ndim != 2 or matrix.shape[0] != expected:
            raise EmbedderUnavailable(f"Gemini returned {len(embeddings)} embeddings for {expected} texts")
        if matrix.shape[1] != self._dimensions:
            raise EmbedderUnavailable(
                f"Gemini returned {matrix.shape[1]}-dimensional vectors, expected {self._dimensions}"
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if not np.all(norms > 0):
            raise EmbedderUnavailable("Gemini returned a zero vector")
        vectors: list[list[float]] = (matrix / norms).tolist()
        return vectors

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server sent one, else exponential backoff; never > max."""
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return min(error.retry_after, self._max_backoff)
        return float(self._backoff(state))

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***")


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None if absent/invalid."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _api_error(response: httpx.Response) -> tuple[str, set[str], str]:
    """(status name, ErrorInfo reasons, message) of a Google API error body, as far as present."""
    try:
        error = response.json()["error"]
        details = error.get("details") or []
        reasons = {d.get("reason", "") for d in details if isinstance(d, dict)}
        return str(error.get("status", "")), reasons, str(error.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", set(), ""
