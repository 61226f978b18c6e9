"""Reference-server data written from its storage description (CSTP-PROTOCOL.md §3 and §12):
a YAML decision tree `decisions/YYYY/MM/YYYY-MM-DD-decision-<id>.yaml` and a SQLite database
with the tables `decisions`, `decision_tags`, `decision_reasons`, `decision_bridge`,
`decision_deliberation` and `decisions_fts`, plus the graph side file `graph_edges.jsonl`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import yaml

FULL: dict[str, Any] = {
    "id": "a1b2c3d4",
    "summary": "Move the dashboard to server-side sessions",
    "decision": "Move the dashboard to server-side sessions",
    "category": "security",
    "confidence": 0.85,
    "stakes": "high",
    "status": "pending",
    "date": "2026-01-05T10:15:00+01:00",
    "context": "Cookies carried the whole session; ünïcödé ok",
    "reasons": [
        {"type": "analysis", "text": "smaller cookies", "strength": 0.9},
        {"type": "constraint", "text": "audit wants revocation", "strength": 0.7},
    ],
    "trace": [{"step": 1, "thought": "listed options", "output": "three"}],
    "deliberation": {
        "inputs": [{"id": "i1", "text": "prior decision on auth", "source": "cstp:queryDecisions"}],
        "steps": [{"step": 1, "thought": "weighed", "inputs_used": ["i1"], "duration_ms": 40}],
        "total_duration_ms": 40,
        "convergence_point": 1,
    },
    "bridge": {"structure": "session table", "function": "revocable login", "tolerance": ["1s lag"]},
    "related_to": [{"id": "e5f6a7b8", "summary": "Earlier auth decision", "distance": 0.21}],
    "kpi_indicators": ["login_latency"],
    "mental_state": "deliberate",
    "review_by": "2026-02-05",
    "tags": ["auth", "dashboard"],
    "pattern": "server holds the state",
    "pre_decision": {
        "query_run": True,
        "similar_found": 2,
        "guardrails_checked": True,
        "guardrails_passed": True,
    },
    "recorded_by": "claude",
    "project": "owner/repo",
    "feature": "sessions",
    "pr": 42,
    "file": "dashboard/app.py",
    "line": 120,
    "commit": "abc1234",
}

REVIEWED: dict[str, Any] = {
    "id": "e5f6a7b8",
    "summary": "Use bearer tokens for the API",
    "decision": "Use bearer tokens for the API",
    "category": "architecture",
    "confidence": 0.7,
    "stakes": "medium",
    "status": "reviewed",
    "date": "2025-12-01T09:00:00+00:00",
    "tags": ["auth"],
    "recorded_by": "gpt",
    "outcome": "partial",
    "reviewed_at": "2026-01-10T12:00:00+00:00",
    "actual_result": "worked, rotation was manual",
    "lessons": "automate rotation",
    "review_notes": "fine otherwise",
    "affected_kpis": {"incidents": 1.0},
    "reviewed_by": "claude",
}


def write_yaml_tree(root: Path) -> dict[str, Any]:
    """The tree under `root/decisions`; returns {name: path} of what was written."""
    files: dict[str, Any] = {}

    def put(record: dict[str, Any], text: str | None = None) -> Path:
        day = str(record["date"])[:10]
        folder = root / "decisions" / day[:4] / day[5:7]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{day}-decision-{record['id']}.yaml"
        path.write_text(
            text if text is not None else yaml.safe_dump(record, sort_keys=False, allow_unicode=True)
        )
        return path

    files["full"] = put(FULL)
    files["reviewed"] = put(REVIEWED)
    # Hand-written as PyYAML reads it back natively: an unquoted timestamp and an all-digit id.
    files["native"] = put(
        {"id": "12345678", "date": "2026-01-07"},
        "id: 12345678\nsummary: Cache guardrails\ndecision: Cache guardrails\ncategory: tooling\n"
        "confidence: 0.6\nstakes: low\nstatus: pending\ndate: 2026-01-07T08:00:00+00:00\n"
        "review_by: 2026-02-07\n",
    )
    files["broken_yaml"] = put(
        {"id": "deadbeef", "date": "2026-01-08"}, "id: deadbeef\ndecision: [unclosed\n"
    )
    files["no_confidence"] = put(
        {"id": "0badc0de", "date": "2026-01-09"},
        yaml.safe_dump(
            {
                "id": "0badc0de",
                "decision": "No confidence here",
                "category": "process",
                "date": "2026-01-09T08:00:00+00:00",
            }
        ),
    )
    (root / "data").mkdir(exist_ok=True)
    edges = [
        {
            "source_id": "a1b2c3d4",
            "target_id": "e5f6a7b8",
            "edge_type": "depends_on",
            "weight": 0.8,
            "created_at": "2026-01-05T10:16:00+00:00",
            "created_by": "claude",
            "context": "needs tokens",
        },
    ]
    (root / "data" / "graph_edges.jsonl").write_text("".join(json.dumps(e) + "\n" for e in edges))
    return files


SCHEMA = """
CREATE TABLE decisions (
    id TEXT PRIMARY KEY, decision TEXT NOT NULL, confidence REAL NOT NULL, category TEXT NOT NULL,
    stakes TEXT DEFAULT 'medium', status TEXT DEFAULT 'pending', context TEXT, recorded_by TEXT,
    project TEXT, feature TEXT, pr INTEGER, pattern TEXT, outcome TEXT, outcome_result TEXT,
    outcome_lessons TEXT, outcome_notes TEXT, reviewed_at TEXT, created_at TEXT NOT NULL, updated_at TEXT
);
CREATE TABLE decision_tags (decision_id TEXT, tag TEXT, PRIMARY KEY (decision_id, tag));
CREATE TABLE decision_reasons (id INTEGER PRIMARY KEY AUTOINCREMENT, decision_id TEXT, type TEXT, text TEXT,
    strength REAL DEFAULT 0.8);
CREATE TABLE decision_bridge (decision_id TEXT PRIMARY KEY, structure TEXT, function TEXT, tolerance TEXT,
    enforcement TEXT, prevention TEXT);
CREATE TABLE decision_deliberation (decision_id TEXT PRIMARY KEY, inputs_json TEXT, steps_json TEXT,
    total_duration_ms INTEGER);
CREATE VIRTUAL TABLE decisions_fts USING fts5(decision, context, pattern);
"""


def write_sqlite(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    rows = [
        (
            "5a1e0001",
            "Shard the index by project",
            0.75,
            "architecture",
            "high",
            "reviewed",
            "Index grew past 1M",
            "claude",
            "owner/repo",
            "search",
            7,
            "split when big",
            "success",
            "latency halved",
            "shard early",
            "see dashboard",
            "2026-01-20T10:00:00+00:00",
            "2026-01-02T09:30:00+00:00",
            "2026-01-20T10:00:00+00:00",
        ),
        (
            "5a1e0002",
            "Keep one worker per container",
            0.55,
            "process",
            "medium",
            "pending",
            None,
            "gpt",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            "2026-01-03T11:00:00+00:00",
            "2026-01-03T11:00:00+00:00",
        ),
        (
            "5a1e0003",
            "Broken confidence row",
            3.5,
            "process",
            "low",
            "pending",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            "2026-01-04T11:00:00+00:00",
            None,
        ),
    ]
    conn.executemany(f"INSERT INTO decisions VALUES ({','.join('?' * 19)})", rows)
    conn.executemany(
        "INSERT INTO decision_tags VALUES (?, ?)",
        [("5a1e0001", "search"), ("5a1e0001", "scale"), ("5a1e0002", "ops")],
    )
    conn.executemany(
        "INSERT INTO decision_reasons (decision_id, type, text, strength) VALUES (?, ?, ?, ?)",
        [
            ("5a1e0001", "empirical", "benchmarks", 0.9),
            ("5a1e0001", "analogy", "like logs", 0.6),
            ("5a1e0002", "constraint", "tracker is in memory", 0.8),
        ],
    )
    conn.execute(
        "INSERT INTO decision_bridge VALUES (?, ?, ?, ?, ?, ?)",
        ("5a1e0001", "one index per project", "fast search", json.dumps(["stale shards"]), None, None),
    )
    conn.execute(
        "INSERT INTO decision_deliberation VALUES (?, ?, ?, ?)",
        (
            "5a1e0001",
            json.dumps([{"id": "q", "text": "past sharding"}]),
            json.dumps([{"step": 1, "thought": "measure"}]),
            300,
        ),
    )
    conn.execute("INSERT INTO decisions_fts VALUES (?, ?, ?)", ("Shard the index by project", "", ""))
    conn.commit()
    conn.close()
