"""CSTP_WORKERS: checkGuardrails (200 rules) and queryDecisions throughput at c=16 with 1, 2 and 4
workers on one port, all on one Chroma server.

One worker is the plain single server process (`CSTP_WORKERS=1` forks nothing). Every row carries
`vs_one_worker`, its req/s over the 1-worker figure of the same method in this run, and the
server CPU counts the supervisor, every worker and the Chroma server. The store holds 1,000
decisions with real vectors (queries embed with each worker's own model). On a machine with fewer
cores than workers plus the load client, the figures say where the CPU went, not how far the code
scales: docs/PERFORMANCE.md reads them per core.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import yaml

from bench import datagen, preload
from bench.harness import Harness
from bench.procs import HOST, Proc, http_get, rss_mb, start_chroma, start_cstp
from bench.scenarios.queries import query_params, row
from cstp.adapters.chroma.store import ChromaStore
from cstp.domain.guardrails import load_rules

WORKER_COUNTS = (1, 2, 4)
CONCURRENCY = 16
SIZE = 1_000
RULES = 200
_PID = re.compile(rb"^cstp_process_id (\d+)", re.M)


def children(pid: int) -> tuple[int, ...]:
    """The worker pids of a supervisor (none for a single process)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return ()
    return tuple(int(p) for p in text.split())


def _wait_for_workers(server: Proc, count: int, timeout: float = 300.0) -> int:
    """Scrape /metrics until `count` distinct workers answered (each loads its model first)."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(seen) < count:
        status, body = http_get(f"http://{HOST}:{server.port}/metrics")
        match = _PID.search(body) if status == 200 else None
        if match:
            seen.add(int(match.group(1)))
        time.sleep(0.02)
    return len(seen)


def run(h: Harness, embedder: Any, real: preload.Vectors) -> None:
    packaged = len(load_rules([]))
    rules_dir = h.workdir / "guardrails-workers"
    rules_dir.mkdir(parents=True, exist_ok=True)
    generated = datagen.guardrail_rules(max(0, RULES - packaged))
    (rules_dir / "bench.yaml").write_text(yaml.safe_dump(generated, sort_keys=False))
    loaded = len(load_rules([rules_dir]))

    chroma = start_chroma(h.registry, h.workdir / "data-workers" / "chroma-server", h.workdir / "logs")
    url = f"http://{HOST}:{chroma.port}"
    store = ChromaStore.server(url, prefix="cstp", space=embedder.space)
    try:
        seconds = preload.load(store, SIZE, preload.vectors_for(SIZE, real.matrix))
    finally:
        store.close()
    h.log(f"workers: {SIZE} decisions loaded into the Chroma server in {seconds:.1f}s")

    guard_params = datagen.guardrail_actions()
    guard_bodies = [datagen.rpc_body("cstp.checkGuardrails", p, i) for i, p in enumerate(guard_params)]
    query = query_params()["semantic"]
    query_bodies = [datagen.rpc_body("cstp.queryDecisions", p, i) for i, p in enumerate(query)]
    methods = (
        (f"workers: checkGuardrails {loaded} rules", "cstp.checkGuardrails", guard_params, guard_bodies),
        (f"workers: queryDecisions semantic, {SIZE} decisions", "cstp.queryDecisions", query, query_bodies),
    )
    one: dict[str, float] = {}
    out: dict[str, Any] = {}
    for count in WORKER_COUNTS:
        server = start_cstp(
            h.registry,
            f"workers-{count}",
            token=h.token,
            logs=h.workdir / "logs",
            data_dir=h.workdir / f"data-workers-{count}",
            chroma_url=url,
            guardrails=rules_dir,
            extra_env={"CSTP_WORKERS": str(count)},
        )
        try:
            answering = _wait_for_workers(server, count)
            pids = children(server.pid)
            watch = (*pids, chroma.pid)
            h.log(f"workers: {count} worker(s) ready ({answering} answered), pids {pids or (server.pid,)}")
            rss = sum(rss_mb(p) or 0.0 for p in (server.pid, *pids))
            out[str(count)] = {"ready_s": round(server.info["ready_s"], 3), "rss_mb": round(rss, 1)}
            for name, method, params, bodies in methods:
                for _ in range(max(1, count)):  # every worker gets its first calls before measuring
                    h.validate(server, method, params)
                if h.config.warmup_s:
                    h.measure(server, bodies, CONCURRENCY, h.config.warmup_s, watch)
                r = h.measure(server, bodies, CONCURRENCY, h.config.run_s, watch)
                extra: dict[str, Any] = {"workers": count}
                if method == "cstp.checkGuardrails":
                    extra["rules"] = loaded
                if count == 1:
                    one[name] = r.rps
                elif one.get(name):
                    extra["vs_one_worker"] = round(r.rps / one[name], 3)
                h.add(row(name, "server", SIZE, r, **extra))
        finally:
            h.registry.stop(server)
    h.floors["workers"] = out
