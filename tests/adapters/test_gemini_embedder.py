"""The Gemini embedder against a loopback stub that speaks the real wire format."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from cstp.adapters.gemini_embedder import GeminiEmbedder
from cstp.domain.errors import EmbedderAuthError, EmbedderUnavailable
from tests.adapters.gemini_stub import GeminiStub, error_body, stub_vector
from tests.chroma_server import free_port

DIMS = 8
Make = Callable[..., GeminiEmbedder]


@pytest.fixture
def stub() -> Iterator[GeminiStub]:
    with GeminiStub() as s:
        yield s


@pytest.fixture
def make(stub: GeminiStub) -> Iterator[Make]:
    """Build embedders on the stub with fast backoff; all are closed at teardown."""
    built: list[GeminiEmbedder] = []

    def factory(**overrides: Any) -> GeminiEmbedder:
        values: dict[str, Any] = {
            "api_key": stub.api_key,
            "base_url": stub.base_url,
            "dimensions": DIMS,
            "timeout": 5.0,
            "max_retries": 3,
            "backoff": 0.01,
            "max_backoff": 0.05,
        }
        values.update(overrides)
        embedder = GeminiEmbedder(**values)
        built.append(embedder)
        return embedder

    yield factory
    for embedder in built:
        embedder.close()


def expected(text: str, task: str, dims: int = DIMS) -> list[float]:
    v = np.array(stub_vector(text, task, dims))
    return list(v / np.linalg.norm(v))


# --- identity ------------------------------------------------------------------------------------


def test_space_names_provider_model_and_dimension(make: Make) -> None:
    assert make(model="gemini-embedding-001", dimensions=768).space == "gemini-gemini-embedding-001-768"
    assert make(model="models/text-embedding-004", dimensions=256).space == ("gemini-text-embedding-004-256")
    assert make(model="odd model/v2!", dimensions=8).space == "gemini-odd-model-v2-8"
    assert make(dimensions=1536).dimension == 1536


# --- wire format ---------------------------------------------------------------------------------


def test_request_follows_the_batch_embed_wire_format(stub: GeminiStub, make: Make) -> None:
    make().embed(["first", "second"], "document")
    [request] = stub.requests
    assert request.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert request.headers["x-goog-api-key"] == stub.api_key
    assert request.body == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": text}]},
                "taskType": "RETRIEVAL_DOCUMENT",
                "outputDimensionality": DIMS,
            }
            for text in ("first", "second")
        ]
    }


def test_queries_use_the_retrieval_query_task(stub: GeminiStub, make: Make) -> None:
    [vector] = make().embed(["what database?"], "query")
    assert stub.requests[0].body["requests"][0]["taskType"] == "RETRIEVAL_QUERY"
    assert vector == pytest.approx(expected("what database?", "RETRIEVAL_QUERY"))


def test_vectors_are_unit_length_with_the_requested_dimension(make: Make) -> None:
    vectors = make(dimensions=48).embed(["a", "b", "c"])
    assert [len(v) for v in vectors] == [48, 48, 48]
    assert [math.fsum(x * x for x in v) for v in vectors] == pytest.approx([1.0, 1.0, 1.0])


def test_large_inputs_are_split_into_batches_of_100_in_order(stub: GeminiStub, make: Make) -> None:
    texts = [f"decision {i}" for i in range(250)]
    vectors = make().embed(texts)
    assert [len(r.body["requests"]) for r in stub.requests] == [100, 100, 50]
    sent = [q["content"]["parts"][0]["text"] for r in stub.requests for q in r.body["requests"]]
    assert sent == texts
    assert np.array(vectors) == pytest.approx(np.array([expected(t, "RETRIEVAL_DOCUMENT") for t in texts]))


def test_batch_size_is_capped_at_100(stub: GeminiStub, make: Make) -> None:
    make(batch_size=500).embed([str(i) for i in range(150)])
    make(batch_size=40).embed([str(i) for i in range(90)])
    assert [len(r.body["requests"]) for r in stub.requests] == [100, 50, 40, 40, 10]


def test_no_texts_means_no_request(stub: GeminiStub, make: Make) -> None:
    assert make().embed([]) == []
    assert stub.requests == []


def test_concurrent_callers_each_get_their_own_vectors(make: Make) -> None:
    embedder = make()
    texts = [f"text {i}" for i in range(16)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda t: embedder.embed([t])[0], texts))
    assert np.array(results) == pytest.approx(np.array([expected(t, "RETRIEVAL_DOCUMENT") for t in texts]))


# --- retries -------------------------------------------------------------------------------------


def test_429_is_retried_then_succeeds(stub: GeminiStub, make: Make) -> None:
    stub.fail_next(429, retry_after=0)
    assert make().embed(["x"]) == [pytest.approx(expected("x", "RETRIEVAL_DOCUMENT"))]
    assert len(stub.requests) == 2


def test_server_errors_are_retried(stub: GeminiStub, make: Make) -> None:
    stub.fail_next(500)
    stub.fail_next(503)
    assert len(make().embed(["x"])) == 1
    assert len(stub.requests) == 3


def test_retries_stop_after_max_retries(stub: GeminiStub, make: Make) -> None:
    stub.fail_always(503)
    with pytest.raises(EmbedderUnavailable, match=r"after 3 attempt\(s\): HTTP 503") as info:
        make(max_retries=2).embed(["x"])
    assert not isinstance(info.value, EmbedderAuthError)
    assert len(stub.requests) == 3


def test_retry_after_is_honoured(stub: GeminiStub, make: Make) -> None:
    stub.fail_next(429, retry_after=1)
    started = time.monotonic()
    make(max_backoff=5.0).embed(["x"])
    assert time.monotonic() - started >= 0.9


def test_retry_after_is_capped(stub: GeminiStub, make: Make) -> None:
    stub.fail_next(429, retry_after=3600)
    started = time.monotonic()
    make(max_backoff=0.2).embed(["x"])
    assert time.monotonic() - started < 3.0


def test_network_errors_are_retried_then_reported() -> None:
    embedder = GeminiEmbedder(
        api_key="k",
        base_url=f"http://127.0.0.1:{free_port()}/v1beta",
        max_retries=1,
        backoff=0.01,
        max_backoff=0.02,
    )
    try:
        with pytest.raises(EmbedderUnavailable, match=r"after 2 attempt\(s\): network error"):
            embedder.embed(["x"])
    finally:
        embedder.close()


# --- rejections ----------------------------------------------------------------------------------


def test_403_is_an_auth_error_without_retry(stub: GeminiStub, make: Make) -> None:
    stub.fail_always(403)
    with pytest.raises(EmbedderAuthError, match="Gemini rejected the API key: 403 PERMISSION_DENIED"):
        make().embed(["x"])
    assert len(stub.requests) == 1


def test_401_is_an_auth_error(stub: GeminiStub, make: Make) -> None:
    stub.fail_always(401)
    with pytest.raises(EmbedderAuthError, match="401"):
        make().embed(["x"])


def test_an_invalid_key_is_an_auth_error_that_never_shows_the_key(make: Make) -> None:
    secret = "AIzaSy-wrong-key-do-not-print"
    with pytest.raises(EmbedderAuthError) as info:
        make(api_key=secret).embed(["x"])
    assert "400" in str(info.value)
    assert secret not in str(info.value)


def test_other_client_errors_are_unavailable_not_auth(stub: GeminiStub, make: Make) -> None:
    stub.fail_always(400, body=error_body(400, "Request contains an invalid argument."))
    with pytest.raises(EmbedderUnavailable, match="400 INVALID_ARGUMENT: Request contains") as info:
        make().embed(["x"])
    assert not isinstance(info.value, EmbedderAuthError)
    assert len(stub.requests) == 1


def test_the_key_is_redacted_from_echoed_error_messages(stub: GeminiStub, make: Make) -> None:
    stub.fail_always(404, body=error_body(404, f"model not found for key {stub.api_key}"))
    with pytest.raises(EmbedderUnavailable) as info:
        make().embed(["x"])
    assert stub.api_key not in str(info.value)
    assert "***" in str(info.value)


def test_a_wrong_dimension_in_the_answer_is_refused(stub: GeminiStub, make: Make) -> None:
    stub.fail_always(200, body={"embeddings": [{"values": [1.0, 2.0, 3.0]}]})
    with pytest.raises(EmbedderUnavailable, match="3-dimensional vectors, expected 8"):
        make().embed(["x"])


def test_a_missing_embedding_in_the_answer_is_refused(stub: GeminiStub, make: Make) -> None:
    stub.fail_always(200, body={"embeddings": [{"values": [1.0] * DIMS}]})
    with pytest.raises(EmbedderUnavailable, match="1 embeddings for 2 texts"):
        make().embed(["x", "y"])


def test_an_unreadable_answer_is_refused(stub: GeminiStub, make: Make) -> None:
    stub.fail_always(200, body={"unexpected": True})
    with pytest.raises(EmbedderUnavailable, match="unreadable"):
        make().embed(["x"])


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="API key"):
        GeminiEmbedder(api_key="")
