"""listDecisions and getStats on the same server and data as the query scenarios.

The dashboard's two calls: a page of 50 decisions with one filter, sorted by confidence, and the
whole-store statistics. Both are answered from the browse catalogue (`domain.catalogue`), which the
server loads in the background at start; the rows are measured once it has loaded (its load time
is a row of its own), so they show the steady state, not the scan that answers meanwhile.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench import datagen
from bench.harness import Harness
from bench.load import Run
from bench.procs import HOST, Proc, http_get

CATEGORIES = ("architecture", "process", "integration", "tooling", "security")


def list_params() -> list[dict[str, Any]]:
    return [
        {"category": c, "sort": "confidence", "order": "desc", "limit": 50, "offset": 0} for c in CATEGORIES
    ]


def run(
    h: Harness,
    server: Proc,
    store: str,
    size: int,
    watch: tuple[int, ...],
    http: dict[int, Run],
    row: Any,
) -> None:
    """One row per method and concurrency, next to the HTTP floor's req/s."""
    loaded_s = wait_for_catalogue(server)
    print(f"  browse catalogue loaded {loaded_s:.1f} s after the first check ({size:,} decisions)")
    calls = {
        "listDecisions (one filter, sorted, page of 50)": ("cstp.listDecisions", list_params()),
        "getStats": ("cstp.getStats", [{}]),
    }
    for scenario, (method, params) in calls.items():
        h.validate(server, method, params)
        bodies = [datagen.rpc_body(method, p, i) for i, p in enumerate(params)]
        for c in h.config.concurrencies:
            r = h.measure(server, bodies, c, h.config.run_s, watch)
            h.add(row(scenario, store, size, r, http_rps=http[c].rps))


def wait_for_catalogue(server: Proc, timeout: float = 600.0) -> float:
    """Seconds until /ready reports the browse catalogue loaded (listings scan until then)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        status, body = http_get(f"http://{HOST}:{server.port}/ready", timeout=5.0)
        if status == 200 and json.loads(body)["components"]["store"].get("catalogue") == "loaded":
            return time.perf_counter() - started
        time.sleep(0.5)
    raise RuntimeError(f"browse catalogue not loaded after {timeout:.0f}s:\n{server.log_tail()}")
