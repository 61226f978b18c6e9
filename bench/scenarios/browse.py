"""listDecisions and getStats on the same server and data as the query scenarios.

The dashboard's two calls: a page of 50 decisions with one filter, sorted by confidence, and the
whole-store statistics. Both read every matching record today (see docs/PERFORMANCE.md), so their
cost grows with the store; the rows show by how much at each size.
"""

from __future__ import annotations

from typing import Any

from bench import datagen
from bench.harness import Harness
from bench.load import Run
from bench.procs import Proc

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
    """One row per method and concurrency, next to the HTTP floor's req/s.

    At 100k only c = 1 is measured: a call reads the whole store (seconds today), and 16 of them
    at once would take minutes without telling more than the c = 1 row.
    """
    calls = {
        "listDecisions (one filter, sorted, page of 50)": ("cstp.listDecisions", list_params()),
        "getStats": ("cstp.getStats", [{}]),
    }
    for scenario, (method, params) in calls.items():
        h.validate(server, method, params)
        bodies = [datagen.rpc_body(method, p, i) for i, p in enumerate(params)]
        for c in h.config.concurrencies if size < 100_000 else (1,):
            r = h.measure(server, bodies, c, h.config.run_s, watch)
            h.add(row(scenario, store, size, r, http_rps=http[c].rps))
