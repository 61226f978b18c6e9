"""`cstp import` of the reference server's data: its YAML decision tree and its SQLite database."""

from __future__ import annotations

import json

from tests.console.reference_data import FULL, REVIEWED, write_sqlite, write_yaml_tree

_BOOKKEEPING = {"rev", "preserve"}


def _record(server, decision_id):
    reply = server.result("cstp.getDecision", {"id": decision_id})
    assert reply["found"], decision_id
    return reply["decision"]


def test_the_yaml_tree_is_imported_with_every_field_the_reference_stores(serve, cli, tmp_path):
    write_yaml_tree(tmp_path / "ref")
    server = serve()
    result = cli(server, "--json", "import", str(tmp_path / "ref"))
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["imported"] == 3 and report["edges"] == 1
    for expected in (FULL, REVIEWED):
        got = _record(server, expected["id"])
        assert {k: v for k, v in got.items() if k not in _BOOKKEEPING | {"project_context"}} == expected
    native = _record(server, "12345678")
    assert native["date"] == "2026-01-07T08:00:00+00:00" and native["review_by"] == "2026-02-07"
    edges = server.result("cstp.getNeighbors", {"nodeId": "a1b2c3d4", "direction": "outgoing"})["neighbors"]
    assert [(n["edge"]["targetId"], n["edge"]["edgeType"], n["edge"]["weight"]) for n in edges] == [
        ("e5f6a7b8", "depends_on", 0.8)
    ]


def test_a_malformed_yaml_file_is_reported_and_skipped(serve, cli, tmp_path):
    files = write_yaml_tree(tmp_path / "ref")
    server = serve()
    result = cli(server, "import", str(tmp_path / "ref" / "decisions"))
    assert result.exit_code == 0
    report = json.loads(cli(server, "--json", "import", str(tmp_path / "ref" / "decisions")).stdout)
    skipped = {s["where"]: s["reason"] for s in report["skipped"]}
    assert skipped[str(files["broken_yaml"])].startswith("not valid YAML")
    assert "confidence must be a number" in skipped[str(files["no_confidence"])]
    assert report["unchanged"] == 3
    assert "skipped 2" in result.stdout and "not valid YAML" in result.stdout
    for bad in ("deadbeef", "0badc0de"):
        assert server.result("cstp.getDecision", {"id": bad})["found"] is False


def test_the_sqlite_database_is_imported_mapping_its_columns(serve, cli, tmp_path):
    db = tmp_path / "data" / "decisions.db"
    write_sqlite(db)
    server = serve()
    result = cli(server, "--json", "import", str(db))
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["imported"] == 2
    assert [s["id"] for s in report["skipped"]] == ["5a1e0003"]
    got = _record(server, "5a1e0001")
    assert {k: v for k, v in got.items() if k not in _BOOKKEEPING | {"project_context"}} == {
        "id": "5a1e0001",
        "summary": "Shard the index by project",
        "decision": "Shard the index by project",
        "confidence": 0.75,
        "category": "architecture",
        "stakes": "high",
        "status": "reviewed",
        "context": "Index grew past 1M",
        "recorded_by": "claude",
        "project": "owner/repo",
        "feature": "search",
        "pr": 7,
        "pattern": "split when big",
        "outcome": "success",
        "actual_result": "latency halved",
        "lessons": "shard early",
        "review_notes": "see dashboard",
        "reviewed_at": "2026-01-20T10:00:00+00:00",
        "reviewed_by": "",
        "date": "2026-01-02T09:30:00+00:00",
        "tags": ["search", "scale"],
        "reasons": [
            {"type": "empirical", "text": "benchmarks", "strength": 0.9},
            {"type": "analogy", "text": "like logs", "strength": 0.6},
        ],
        "bridge": {
            "structure": "one index per project",
            "function": "fast search",
            "tolerance": ["stale shards"],
        },
        "deliberation": {
            "inputs": [{"id": "q", "text": "past sharding"}],
            "steps": [{"step": 1, "thought": "measure"}],
            "total_duration_ms": 300,
        },
    }
    plain = _record(server, "5a1e0002")
    assert plain["tags"] == ["ops"] and plain["status"] == "pending" and "outcome" not in plain
    again = json.loads(cli(server, "--json", "import", str(db)).stdout)
    assert (again["imported"], again["unchanged"]) == (0, 2)
