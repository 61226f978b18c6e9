"""preAction and getSessionContext on the same server and data as the query scenarios.

preAction runs with `autoRecord: false` (the record's cost is recordDecision's, measured on its
own): a semantic query within the action's category, the guardrail check and the category's
calibration, concurrently. Its target compares it with the semantic queryDecisions p50 of the same
server, size and concurrency. getSessionContext asks every default section with a task
description (JSON). The store digest behind both is built by the validation calls, so the runs
measure the cached path; a background rebuild (every 30 s, or after writes) lands in the tail.
"""

from __future__ import annotations

from typing import Any

from bench import datagen
from bench.harness import Harness
from bench.load import Run
from bench.procs import Proc

CATEGORIES = ("architecture", "process", "integration", "tooling", "security")


def pre_action_params() -> list[dict[str, Any]]:
    return [
        {
            "action": {"description": q, "category": CATEGORIES[i % len(CATEGORIES)], "confidence": 0.7},
            "options": {"autoRecord": False},
        }
        for i, q in enumerate(datagen.QUERIES)
    ]


def session_params() -> list[dict[str, Any]]:
    return [{"taskDescription": q} for q in datagen.QUERIES]


def run(
    h: Harness,
    server: Proc,
    store: str,
    size: int,
    watch: tuple[int, ...],
    http: dict[int, Run],
    row: Any,
    query_p50: dict[int, float],
) -> None:
    """One row per method and concurrency; preAction's floor is the semantic query's p50."""
    calls = {
        "preAction (autoRecord off)": ("cstp.preAction", pre_action_params()),
        "getSessionContext": ("cstp.getSessionContext", session_params()),
    }
    for scenario, (method, params) in calls.items():
        h.validate(server, method, params)
        bodies = [datagen.rpc_body(method, p, i) for i, p in enumerate(params)]
        for c in h.config.concurrencies:
            r = h.measure(server, bodies, c, h.config.run_s, watch)
            if method == "cstp.preAction":
                h.add(row(scenario, store, size, r, "queryDecisions semantic", query_p50.get(c), http[c].rps))
            else:
                h.add(row(scenario, store, size, r, http_rps=http[c].rps))
