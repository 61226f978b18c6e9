"""The floors: what a result is compared with, measured in this run on this machine.

- embedding one query with the server's own model, in this process (`OnnxEmbedder.embed`);
- embedding documents in batches (the ceiling for recordDecision throughput);
- the raw Chroma query: the chromadb client called directly on the server's index collection, with
  the same vector, `n_results`, `include` and the `where` clause cstp builds (`chroma_where`);
- the HTTP floor (a JSON-RPC call of an unknown method through the same server) is a load run,
  see `scenarios/queries.py`.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def stats_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean of durations (seconds in, milliseconds out)."""
    xs = sorted(seconds)
    if not xs:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "mean_ms": 0.0, "n": 0}

    def pct(p: float) -> float:
        k = min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))
        return xs[k] * 1000

    return {
        "p50_ms": round(pct(50), 3),
        "p95_ms": round(pct(95), 3),
        "p99_ms": round(pct(99), 3),
        "mean_ms": round(statistics.fmean(xs) * 1000, 3),
        "n": len(xs),
    }


# A floor never takes longer than this (slow filtered queries at 100k would otherwise take minutes);
# it stops early with at least MIN_SAMPLES.
MAX_SECONDS = 8.0
MIN_SAMPLES = 10


def timed(fn: Callable[[int], object], iterations: int, warmup: int = 3) -> dict[str, float]:
    """Call `fn(i)` up to `iterations` times after `warmup` calls; latency stats in ms."""
    for i in range(warmup):
        fn(i)
    samples: list[float] = []
    deadline = time.perf_counter() + MAX_SECONDS
    for i in range(iterations):
        started = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - started)
        if started > deadline and len(samples) >= MIN_SAMPLES:
            break
    out = stats_ms(samples)
    out["loadavg_1m"] = round(os.getloadavg()[0], 2)
    return out


def embed_query(embedder: Any, queries: Sequence[str], iterations: int) -> dict[str, float]:
    """One query at a time, as the server embeds a lone queryDecisions call."""
    return timed(lambda i: embedder.embed([queries[i % len(queries)]], "query"), iterations)


def embed_documents(embedder: Any, documents: Sequence[str], iterations: int) -> dict[str, float]:
    """One document at a time (the recordDecision c=1 floor) and the batched rate (its ceiling)."""
    single = timed(lambda i: embedder.embed([documents[i % len(documents)]], "document"), iterations)
    started = time.perf_counter()
    embedder.embed(list(documents), "document")
    seconds = time.perf_counter() - started
    single["batch_docs_per_s"] = round(len(documents) / seconds, 1)
    single["batch_docs"] = len(documents)
    return single


def chroma_query(
    collection: Any,
    vectors: np.ndarray[Any, np.dtype[np.float32]],
    wheres: Sequence[dict[str, Any] | None],
    n_results: int,
    iterations: int,
) -> dict[str, float]:
    """`collection.query` exactly as `ChromaStore.search` calls it."""

    def call(i: int) -> object:
        return collection.query(
            query_embeddings=vectors[i % len(vectors)][None, :],
            n_results=n_results,
            where=wheres[i % len(wheres)],
            include=["metadatas", "distances"],
        )

    return timed(call, iterations)
