"""Varied decisions for the transfer tests: reviews, deliberation, bridges, edges, unicode."""

from __future__ import annotations

from typing import Any

from tests.console.conftest import LiveServer

TOPICS = [
    ("Use Chroma as the decision store", "architecture", ["storage", "chroma"]),
    ("Adopt ruff for linting and formatting", "tooling", ["lint"]),
    ("Rotate the bearer tokens every quarter", "security", ["auth", "tokens"]),
    ("Batch embeddings in groups of 32", "architecture", ["embedding", "performance"]),
    ("Review pull requests within one day", "process", ["review"]),
    ("Integrate Gemini embeddings behind a port", "integration", ["embedding", "gemini"]),
    ("Décider en français: garder les accents, 漢字 и кириллица", "process", ["unicode", "i18n"]),
    ("Keep the SQLite importer read-only", "tooling", ["import", "sqlite"]),
]

# One word per round, of different lengths, so no two decisions embed at exactly the same distance
# from a query (exact ties are ordered arbitrarily by the vector index, in any store).
ROUNDS = ["one", "second", "thirdly", "quartet"]

QUERIES = ["decision store chroma", "embedding batches", "tokens security", "review process", "accents"]


def seed(server: LiveServer, copies: int = 3) -> list[str]:
    """Record `copies` × TOPICS decisions, review every other one, link some; returns the ids."""
    ids: list[str] = []
    for n in range(copies):
        for i, (text, category, tags) in enumerate(TOPICS):
            params: dict[str, Any] = {
                "decision": f"{text} ({ROUNDS[n]})",
                "confidence": round(0.5 + 0.05 * i, 2),
                "category": category,
                "stakes": ["low", "medium", "high", "critical"][i % 4],
                "context": f"Context for {text} — {ROUNDS[n]}",
                "reasons": [
                    {"type": "analysis", "text": "measured"},
                    {"type": "pattern", "text": "seen before"},
                ],
                "tags": tags,
                "pattern": "prefer boring technology",
                "project": "cstp",
                "feature": f"f{i}",
                "pr": 100 + i,
                "deliberation": {
                    "inputs": [{"id": "q1", "text": "what did we do last time?", "source": "query"}],
                    "steps": [{"step": 1, "thought": "compare options", "inputs_used": ["q1"]}],
                    "total_duration_ms": 1200,
                },
                "bridge": {"structure": "a port with two adapters", "function": "swap stores"},
                "trace": [{"step": 1, "thought": "looked at the data", "output": "ok"}],
                "mentalState": "deliberate",
                "reviewIn": "2w",
            }
            ids.append(server.result("cstp.recordDecision", params)["id"])
    for k, decision_id in enumerate(ids):
        if k % 2 == 0:
            server.result(
                "cstp.reviewDecision",
                {
                    "id": decision_id,
                    "outcome": ["success", "partial", "failure", "abandoned"][k % 4],
                    "actualResult": "it went as planned ✓",
                    "lessons": "measure first",
                    "notes": "reviewed in the weekly",
                    "affectedKpis": {"latency_ms": -12.5},
                },
            )
    for a, b in zip(ids, ids[1:], strict=False):
        if ids.index(a) % 3 == 0:
            server.result(
                "cstp.linkDecisions",
                {
                    "sourceId": a,
                    "targetId": b,
                    "edgeType": "relates_to",
                    "weight": 0.7,
                    "context": "same topic",
                },
            )
    server.result("cstp.linkDecisions", {"sourceId": ids[-1], "targetId": ids[0], "edgeType": "supersedes"})
    return ids


def snapshot_of(server: LiveServer, ids: list[str]) -> dict[str, Any]:
    """What a client can see of the decisions: every record, the top-5 of QUERIES in each mode,
    and every decision's neighbours."""
    records = {i: server.result("cstp.getDecision", {"id": i})["decision"] for i in ids}
    rankings = {
        f"{mode}:{q}": _top5(server, q, mode) for q in QUERIES for mode in ("semantic", "keyword", "hybrid")
    }
    neighbours = {
        i: sorted(
            (n["edge"]["sourceId"], n["edge"]["targetId"], n["edge"]["edgeType"], n["edge"]["weight"])
            for n in server.result("cstp.getNeighbors", {"nodeId": i, "direction": "both"})["neighbors"]
        )
        for i in ids
    }
    return {"records": records, "rankings": rankings, "neighbours": neighbours}


def _top5(server: LiveServer, query: str, mode: str) -> tuple[list[float], list[str], set[str]]:
    """The top-5 of `query`: its distances, the ids ranked above the 5th distance, and the ids at
    the 5th distance among the top 10. Decisions at exactly equal distances are ordered
    arbitrarily by the vector index (HNSW), in any store, so within that tie only membership is
    fixed; everything else must be identical."""
    hits = server.result("cstp.queryDecisions", {"query": query, "limit": 10, "retrievalMode": mode})
    ranked = [(d["id"], d["distance"]) for d in hits["decisions"]]
    top = ranked[:5]
    if not top:
        return [], [], set()
    last = top[-1][1]
    return [d for _, d in top], [i for i, d in top if d != last], {i for i, d in ranked if d == last}
