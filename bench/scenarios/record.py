"""recordDecision over HTTP at each concurrency, against the embedding floor.

Every recorded decision is embedded (its document: decision, context, reasons, tags, project,
feature, PR) and written to Chroma twice (records and index). The floor is the same model embedding
the same documents in this process: one at a time (the c=1 latency floor) and in batches of 32
(`batch_docs_per_s`, the ceiling for throughput, since the embedding is most of the work).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from bench import datagen, floors
from bench.harness import Harness
from bench.load import Run
from bench.procs import Proc

RECORDS = 2000  # distinct bodies, sent in turn


def documents(n: int) -> list[str]:
    """The documents the server embeds for `record_params(n)` (no review yet, pending)."""
    rng = random.Random(datagen.SEED + 1)
    return [
        dataclasses.replace(datagen.make_decision(rng, i), review=None, status="pending").document()
        for i in range(n)
    ]


def run(
    h: Harness,
    server: Proc,
    embedder: Any,
    http: dict[int, Run],
    store: str,
    size: int,
    watch: tuple[int, ...] = (),
) -> None:
    from bench.scenarios.queries import row

    params = datagen.record_params(RECORDS)
    bodies = [datagen.rpc_body("cstp.recordDecision", p, i) for i, p in enumerate(params)]
    docs = documents(h.config.record_floor_docs)
    floor = floors.embed_documents(embedder, docs, h.config.floor_iterations)
    h.floors["embed_document"] = floor
    h.validate(server, "cstp.recordDecision", params[-2:], 2)
    for c in h.config.concurrencies:
        r = h.measure(server, bodies, c, h.config.run_s, watch)
        h.add(
            row(
                "recordDecision",
                store,
                size,
                r,
                "embed 1 document",
                floor["p50_ms"],
                http[c].rps,
                rps_vs_embed_ceiling=round(r.rps / floor["batch_docs_per_s"], 3),
            )
        )
