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


def category_query_params() -> list[dict[str, Any]]:
    """The query preAction makes: semantic, limit 5, within the action's category."""
    return [
        {"query": p["action"]["description"], "limit": 5, "filters": {"category": p["action"]["category"]}}
        for p in pre_action_params()
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
    """One row per method and concurrency. preAction is shown against the semantic query's p50
    (its target) and, as `like_for_like_*`, against the category-filtered query it contains."""
    calls = {
        "queryDecisions semantic, category filter": ("cstp.queryDecisions", category_query_params()),
        "preAction (autoRecord off)": ("cstp.preAction", pre_action_params()),
        "getSessionContext": ("cstp.getSessionContext", session_params()),
    }
    category_p50: dict[int, float] = {}
    for scenario, (method, params) in calls.items():
        h.validate(server, method, params)
        bodies = [datagen.rpc_body(method, p, i) for i, p in enumerate(params)]
        for c in h.config.concurrencies:
            r = h.measure(server, bodies, c, h.config.run_s, watch)
            if method == "cstp.queryDecisions":
                category_p50[c] = r.p50_ms
                h.add(row(scenario, store, size, r, http_rps=http[c].rps))
            elif method == "cstp.preAction":
                out = row(scenario, store, size, r, "queryDecisions semantic", query_p50.get(c), http[c].rps)
                if r.requests and category_p50.get(c):
                    out["like_for_like_p50_ms"] = round(category_p50[c], 3)
                    out["like_for_like_overhead_p50_ms"] = round(r.p50_ms - category_p50[c], 3)
                h.add(out)
            else:
                h.add(row(scenario, store, size, r, http_rps=http[c].rps))
