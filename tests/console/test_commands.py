"""Each `cstp` command against a real server: its output, `--json`, error output and exit codes."""

from __future__ import annotations

import json

import pytest

from tests.console.conftest import LiveServer


@pytest.fixture
def server(serve) -> LiveServer:
    return serve()


def _record(cli, server, *extra: str) -> str:
    result = cli(
        server,
        "--json",
        "record",
        "Adopt typer for the command line",
        "--confidence",
        "0.8",
        "--category",
        "tooling",
        *extra,
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["id"]


def test_record_sends_every_flag_as_the_protocol_param(cli, server):
    decision_id = _record(
        cli,
        server,
        "--stakes",
        "high",
        "--context",
        "need a CLI",
        "--reason",
        "analysis:well kept:0.9",
        "--reason",
        "pattern:like git",
        "--tag",
        "cli",
        "--tag",
        "ux",
        "--pattern",
        "use libraries",
        "--project",
        "cstp",
        "--feature",
        "cli",
        "--pr",
        "12",
        "--file",
        "src/cstp/console/main.py",
        "--line",
        "1",
        "--commit",
        "abc",
        "--review-in",
        "2w",
        "--mental-state",
        "deliberate",
    )
    d = server.result("cstp.getDecision", {"id": decision_id})["decision"]
    assert (d["stakes"], d["context"], d["tags"], d["pattern"], d["project"], d["pr"], d["line"]) == (
        "high",
        "need a CLI",
        ["cli", "ux"],
        "use libraries",
        "cstp",
        12,
        1,
    )
    assert d["reasons"] == [
        {"type": "analysis", "text": "well kept", "strength": 0.9},
        {"type": "pattern", "text": "like git", "strength": 0.8},
    ]
    assert d["mental_state"] == "deliberate" and "review_by" in d


def test_record_prints_the_id_for_people(cli, server):
    result = cli(server, "record", "Write docs/CLI.md", "--confidence", "0.6")
    assert result.exit_code == 0 and result.stdout.startswith("Recorded ")


def test_get_shows_a_decision_and_fails_with_exit_1_when_missing(cli, server):
    decision_id = _record(cli, server)
    shown = cli(server, "get", decision_id)
    assert shown.exit_code == 0 and "Adopt typer for the command line" in shown.stdout
    as_json = json.loads(cli(server, "--json", "get", decision_id).stdout)
    assert as_json["decision"]["id"] == decision_id
    missing = cli(server, "get", "ffffffff")
    assert missing.exit_code == 1 and "Decision not found: ffffffff" in missing.stderr


def test_query_covers_modes_and_filters(cli, server):
    keep = _record(cli, server, "--tag", "cli", "--project", "cstp")
    _record(cli, server, "--tag", "other", "--project", "elsewhere")
    for mode in ("semantic", "keyword", "hybrid"):
        result = cli(
            server,
            "--json",
            "query",
            "typer command line",
            "--mode",
            mode,
            "--project",
            "cstp",
            "--tag",
            "cli",
            "--min-confidence",
            "0.5",
            "--status",
            "pending",
            "--limit",
            "5",
        )
        reply = json.loads(result.stdout)
        assert reply["retrievalMode"] == mode
        assert [d["id"] for d in reply["decisions"]] == [keep]
    listed = json.loads(cli(server, "--json", "query").stdout)
    assert listed["retrievalMode"] == "list" and listed["total"] == 2
    table = cli(server, "query", "typer")
    assert table.exit_code == 0 and keep in table.stdout


def test_query_with_a_bad_filter_value_exits_1_with_the_servers_message(cli, server):
    result = cli(server, "query", "x", "--min-confidence", "0.9", "--max-confidence", "0.1")
    assert result.exit_code == 1
    assert "Error -32602" in result.stderr and "minConfidence" in result.stderr


def test_list_pages_and_filters(cli, server):
    for n in range(3):
        _record(cli, server, "--tag", f"t{n}")
    reply = json.loads(cli(server, "--json", "list", "--limit", "2", "--tag", "t1").stdout)
    assert reply["total"] == 1 and len(reply["decisions"]) == 1
    people = cli(server, "list", "--limit", "2")
    assert people.exit_code == 0 and "1-2 of 3" in people.stdout


def test_check_reports_blocks_and_exits_0(cli, server):
    result = cli(
        server,
        "--json",
        "check",
        "deploy on friday",
        "--stakes",
        "high",
        "--confidence",
        "0.3",
        "--category",
        "process",
    )
    reply = json.loads(result.stdout)
    assert result.exit_code == 0 and reply["allowed"] is False
    people = cli(server, "check", "deploy on friday", "--stakes", "high", "--confidence", "0.3")
    assert "blocked" in people.stdout and "no-high-stakes-low-confidence" in people.stdout


def test_review_then_calibration_and_stats(cli, server):
    ids = [_record(cli, server) for _ in range(3)]
    for decision_id in ids:
        result = cli(
            server,
            "review",
            decision_id,
            "--outcome",
            "success",
            "--lessons",
            "fine",
            "--affected-kpi",
            "latency=-3",
        )
        assert result.exit_code == 0 and f"Reviewed {decision_id}" in result.stdout
    d = server.result("cstp.getDecision", {"id": ids[0]})["decision"]
    assert (d["status"], d["lessons"], d["affected_kpis"]) == ("reviewed", "fine", {"latency": -3.0})
    calibration = json.loads(cli(server, "--json", "calibration", "--min-decisions", "3").stdout)
    assert calibration["overall"]["reviewedDecisions"] == 3
    assert "brierScore" in cli(server, "calibration", "--min-decisions", "3").stdout
    stats = json.loads(cli(server, "--json", "stats").stdout)
    assert stats["total"] == 3 and stats["byStatus"] == {"reviewed": 3}
    assert "3 decisions" in cli(server, "stats").stdout


def test_review_with_a_bad_outcome_exits_1(cli, server):
    decision_id = _record(cli, server)
    result = cli(server, "review", decision_id, "--outcome", "great")
    assert result.exit_code == 1 and "outcome" in result.stderr


def test_guardrails_lists_the_loaded_rules(cli, server):
    reply = json.loads(cli(server, "--json", "guardrails").stdout)
    assert reply["count"] > 0
    assert "no-high-stakes-low-confidence" in cli(server, "guardrails").stdout


def test_link_and_update(cli, server):
    a, b = _record(cli, server), _record(cli, server)
    linked = cli(server, "link", a, b, "--edge-type", "supersedes", "--weight", "0.5")
    assert linked.exit_code == 0 and "supersedes" in linked.stdout
    neighbors = server.result("cstp.getNeighbors", {"nodeId": a, "direction": "outgoing"})["neighbors"]
    assert [(n["edge"]["targetId"], n["edge"]["edgeType"]) for n in neighbors] == [(b, "supersedes")]
    self_loop = cli(server, "link", a, a)
    assert self_loop.exit_code == 1 and "self-loop" in self_loop.stderr
    updated = cli(server, "update", a, "--context", "new context", "--tag", "edited")
    assert updated.exit_code == 0, updated.stderr
    d = server.result("cstp.getDecision", {"id": a})["decision"]
    assert (d["context"], d["tags"]) == ("new context", ["edited"])
    nothing = cli(server, "update", a)
    assert nothing.exit_code == 2 and "at least one field" in nothing.stderr


def test_usage_errors_exit_2(cli, server):
    assert cli(server, "record").exit_code == 2  # missing argument
    assert cli(server, "record", "x", "--confidence", "2").exit_code == 2  # out of range
    bad_reason = cli(server, "record", "x", "--reason", "no-colon")
    assert bad_reason.exit_code == 2 and "type:text" in bad_reason.stderr
    assert cli(server, "frobnicate").exit_code == 2
    bad_mode = cli(server, "query", "x", "--mode", "semantik")
    assert bad_mode.exit_code == 2 and "semantik" in bad_mode.stderr and "--mode" in bad_mode.stderr


def test_a_wrong_token_or_no_server_exits_1(cli, server):
    refused = cli(server, "stats", token="wrong-token-123456")
    assert refused.exit_code == 1 and "refused the token" in refused.stderr
    nowhere = cli(None, "--url", "http://127.0.0.1:9", "stats")
    assert nowhere.exit_code == 1 and "cannot reach" in nowhere.stderr


def test_the_generated_token_is_read_from_the_data_directory(cli, serve, tmp_path):
    server = serve("tokenless", auth_tokens=None, admin_agents="")
    assert (server.data_dir / "auth_token").exists()
    result = cli(None, "--url", server.url, "--data-dir", str(server.data_dir), "--json", "stats", token=None)
    assert result.exit_code == 0, result.stderr
    exported = cli(None, "--url", server.url, "--data-dir", str(server.data_dir), "export", token=None)
    assert exported.exit_code == 0  # the generated token's agent is the operator (an admin)
