"""queryDecisions at each size and storage mode, with its floors, memory and start-up time.

For each (store, size): bulk-load the decisions (`bench.preload`), measure the raw Chroma floors on
that collection, start the server on the same data, measure the HTTP floor (`cstp.noop`), then
semantic, hybrid and compound-filtered semantic queries at each concurrency, the server's memory,
and (for the configured store and size) recordDecision. Then stop everything started for it.
"""

from __future__ import annotations

from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from bench import datagen, floors, preload
from bench.harness import Harness
from bench.load import Run
from bench.procs import HOST, Proc, http_get, rpc, rss_mb, start_chroma, start_cstp
from bench.scenarios import browse, mixed, record, ui, workflow
from cstp.adapters.chroma.client import ExplicitVectorsOnly, collection_name
from cstp.adapters.chroma.schema import where_for
from cstp.adapters.chroma.store import ChromaStore
from cstp.domain.filters import DecisionFilter

LIMIT = 5
MODES = ("semantic", "hybrid", "filtered")
NOOP = datagen.rpc_body("cstp.noop", {})


def query_params() -> dict[str, list[dict[str, Any]]]:
    filters = datagen.compound_filters()
    out: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    for q, f in zip(datagen.QUERIES, filters, strict=True):
        out["semantic"].append({"query": q, "limit": LIMIT, "retrievalMode": "semantic"})
        out["hybrid"].append({"query": q, "limit": LIMIT, "retrievalMode": "hybrid"})
        out["filtered"].append({"query": q, "limit": LIMIT, "retrievalMode": "semantic", "filters": f})
    return out


def wire_to_filter(f: dict[str, Any]) -> DecisionFilter:
    return DecisionFilter(
        category=f["category"], min_confidence=float(f["minConfidence"]), stakes=tuple(f["stakes"])
    )


def row(
    scenario: str,
    store: str | None,
    size: int | None,
    run: Run,
    floor_name: str | None = None,
    floor_p50: float | None = None,
    http_rps: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": scenario, "store": store, "size": size, **run.as_dict(), **extra}
    if not run.requests:  # nothing completed: no latency to report
        for key in ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms", "client_cpu_us", "server_cpu_ms"):
            out[key] = None
        return out
    if floor_name is not None and floor_p50:
        out["floor"] = floor_name
        out["floor_p50_ms"] = round(floor_p50, 3)
        out["ratio_p50"] = round(run.p50_ms / floor_p50, 2)
        out["overhead_p50_ms"] = round(run.p50_ms - floor_p50, 3)
    if http_rps:
        out["rps_vs_http_floor"] = round(run.rps / http_rps, 3)
    return out


def noop_floor(h: Harness, server: Proc, store: str | None, size: int | None, **extra: Any) -> dict[int, Run]:
    """The HTTP floor at each concurrency: auth, body read, envelope, dispatch, error reply.

    The server's first requests are slow (lazy imports, first-call code paths, a background index
    check right after start): 50 calls first, so they do not land in the floor's tail.
    """
    for _ in range(50):
        try:
            rpc(server.port, h.token, "cstp.noop", {})
        except RuntimeError:
            pass  # the expected "method not found"
    out = {}
    for c in h.config.concurrencies:
        r = h.measure(server, [NOOP], c, h.config.floor_s, expect_error=True)
        out[c] = r
        h.add(row("http floor (cstp.noop)", store, size, r, **extra))
    return out


def _raw_collection(store: str, path_or_url: Any, prefix: str, space: str) -> tuple[Any, Any]:
    settings = ChromaSettings(anonymized_telemetry=False)
    if store == "embedded":
        client = chromadb.PersistentClient(path=str(path_or_url), settings=settings)
    else:
        client = chromadb.HttpClient(host=HOST, port=path_or_url, settings=settings)
    name = collection_name(prefix, space)
    return client, client.get_collection(name, embedding_function=ExplicitVectorsOnly())  # type: ignore[arg-type]


def chroma_floors(
    h: Harness, store: str, where: Any, prefix: str, space: str, qvecs: np.ndarray[Any, Any]
) -> dict[str, dict[str, float]]:
    wheres = [where_for(wire_to_filter(f)) for f in datagen.compound_filters()]
    client, coll = _raw_collection(store, where, prefix, space)
    try:
        it = h.config.floor_iterations
        return {
            "semantic": floors.chroma_query(coll, qvecs, [None], LIMIT, it),
            # hybrid asks the vector side for 2 x limit candidates
            "hybrid": floors.chroma_query(coll, qvecs, [None], 2 * LIMIT, it),
            "filtered": floors.chroma_query(coll, qvecs, wheres, LIMIT, it),
        }
    finally:
        close = getattr(client, "close", None)
        if callable(close):
            close()


def _stored(port: int) -> int | None:
    status, body = http_get(f"http://{HOST}:{port}/metrics")
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("cstp_decisions "):
            return int(float(line.split()[1]))
    return None


def run(h: Harness, embedder: Any, real: preload.Vectors) -> None:
    cfg = h.config
    params = query_params()
    bodies = {
        m: [datagen.rpc_body("cstp.queryDecisions", p, i) for i, p in enumerate(ps)]
        for m, ps in params.items()
    }
    qvecs = np.asarray(embedder.embed(list(datagen.QUERIES), "query"), dtype=np.float32)
    vectors = preload.vectors_for(max(cfg.sizes), real.matrix)
    for store in cfg.stores:
        for size in cfg.sizes:
            _one(h, store, size, embedder, vectors, qvecs, bodies, params)


def _one(
    h: Harness,
    store: str,
    size: int,
    embedder: Any,
    vectors: np.ndarray[Any, Any],
    qvecs: np.ndarray[Any, Any],
    bodies: dict[str, list[str]],
    params: dict[str, list[dict[str, Any]]],
) -> None:
    cfg = h.config
    data_dir = h.workdir / f"data-{store}-{size}"
    prefix = "cstp"
    chroma: Proc | None = None
    if store == "server":
        chroma = start_chroma(h.registry, data_dir / "chroma-server", h.workdir / "logs")
        where: Any = chroma.port
        lib_store = ChromaStore.server(f"http://{HOST}:{chroma.port}", prefix=prefix, space=embedder.space)
    else:
        where = data_dir / "chroma"
        lib_store = ChromaStore.embedded(where, prefix=prefix, space=embedder.space)
    h.log(f"loading {size} decisions into {store} Chroma ...")
    try:
        seconds = preload.load(lib_store, size, vectors)
    finally:
        lib_store.close()
    h.loads.append({"store": store, "size": size, "seconds": round(seconds, 2)})
    h.log(f"loaded in {seconds:.1f}s; raw Chroma floors ...")
    cfloors = chroma_floors(h, store, where, prefix, embedder.space, qvecs)
    h.floors.setdefault("chroma", {}).setdefault(store, {})[str(size)] = cfloors
    # The embedding floor next to the runs it is compared with (machine load drifts).
    efloor = floors.embed_query(embedder, datagen.QUERIES, h.config.floor_iterations)
    h.floors.setdefault("embed_query", {}).setdefault(store, {})[str(size)] = efloor
    embed_floor = efloor["p50_ms"]

    server = start_cstp(
        h.registry,
        f"{store}-{size}",
        token=h.token,
        logs=h.workdir / "logs",
        data_dir=data_dir,
        chroma_url=f"http://{HOST}:{chroma.port}" if chroma else None,
        prefix=prefix,
    )
    watch = (chroma.pid,) if chroma else ()
    stored = _stored(server.port)
    h.log(f"server {store}-{size} ready in {server.info['ready_s']:.2f}s (stored={stored})")
    if stored is not None and stored != size:
        h.notes.append(f"{store}-{size}: server reports {stored} decisions, expected {size}")
    mem: dict[str, Any] = {
        "store": store,
        "size": size,
        "rss_ready_mb": server.info["rss_ready_mb"],
        "chroma_server_rss_ready_mb": rss_mb(chroma.pid) if chroma else None,
    }
    info: dict[str, Any] = {"store": store, "size": size, "ready_s": round(server.info["ready_s"], 3)}
    try:
        http = noop_floor(h, server, store, size)
        # Warm up: every body once (the first hybrid call builds the BM25 index), then a short burst.
        for mode in MODES:
            h.validate(server, "cstp.queryDecisions", params[mode])
        if cfg.warmup_s:
            h.measure(server, bodies["semantic"] + bodies["hybrid"], 4, cfg.warmup_s)
        semantic_p50: dict[int, float] = {}
        for mode in MODES:
            floor_p50 = embed_floor + cfloors[mode]["p50_ms"]
            for c in cfg.concurrencies:
                r = h.measure(server, bodies[mode], c, cfg.run_s, watch)
                if mode == "semantic" and r.requests:
                    semantic_p50[c] = r.p50_ms
                h.add(
                    row(
                        f"queryDecisions {mode}",
                        store,
                        size,
                        r,
                        f"embed + chroma {mode}",
                        floor_p50,
                        http[c].rps,
                    )
                )
        browse.run(h, server, store, size, watch, http, row)
        ui.run(h, server, store, size)  # after browse: the catalogue has loaded
        workflow.run(h, server, store, size, watch, http, row, semantic_p50)
        mem["rss_after_queries_mb"] = rss_mb(server.pid)
        mem["chroma_server_rss_after_queries_mb"] = rss_mb(chroma.pid) if chroma else None
        if store == cfg.record_store and size == cfg.record_size:
            record.run(h, server, embedder, http, store, size, watch)
            mem["rss_after_record_mb"] = rss_mb(server.pid)
            mixed.run(h, server, store, size)
            mem["rss_after_mixed_mb"] = rss_mb(server.pid)
    finally:
        h.memory.append(mem)
        info["stop_s"] = round(h.registry.stop(server), 3)
        h.servers.append(info)
        if chroma is not None:
            h.registry.stop(chroma)
