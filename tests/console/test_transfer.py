"""`cstp export` / `cstp import` against real servers, and the admin-only bulk methods behind them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import TOKEN
from tests.console.conftest import GUEST_TOKEN
from tests.console.seed import seed, snapshot_of

SRC = Path(__file__).resolve().parents[2] / "src"


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_export_then_import_into_a_fresh_server_reproduces_every_decision_and_ranking(serve, cli, tmp_path):
    source = serve("source")
    ids = seed(source)
    out = tmp_path / "all.jsonl"
    exported = cli(source, "export", "--out", str(out))
    assert exported.exit_code == 0, exported.stderr
    assert f"Exported {len(ids)} decisions" in exported.stderr
    lines = _lines(out)
    assert {line["decision"]["id"] for line in lines} == set(ids)
    assert all(line["format"] == "cstp.decision" and line["version"] == 1 for line in lines)
    assert sum(len(line["edges"]) for line in lines) > 0

    target = serve("target")
    imported = cli(target, "--json", "import", str(out))
    assert imported.exit_code == 0, imported.stderr
    report = json.loads(imported.stdout)
    assert (report["imported"], report["unchanged"], report["skipped"]) == (len(ids), 0, [])
    assert snapshot_of(target, ids) == snapshot_of(source, ids)


def test_importing_the_same_file_twice_changes_nothing(serve, cli, tmp_path):
    source = serve("source")
    ids = seed(source, copies=1)
    out = tmp_path / "all.jsonl"
    assert cli(source, "export", "--out", str(out)).exit_code == 0
    target = serve("target")
    assert cli(target, "import", str(out)).exit_code == 0
    before = snapshot_of(target, ids)
    again = cli(target, "--json", "import", str(out))
    report = json.loads(again.stdout)
    assert (report["imported"], report["unchanged"], report["edges"]) == (0, len(ids), 0)
    assert snapshot_of(target, ids) == before


def test_export_filters_select_a_subset(serve, cli, tmp_path):
    source = serve("source")
    seed(source, copies=1)
    out = tmp_path / "security.jsonl"
    assert cli(source, "export", "--out", str(out), "--category", "security").exit_code == 0
    lines = _lines(out)
    assert lines and all(line["decision"]["category"] == "security" for line in lines)


def test_export_to_stdout_streams_lines_over_pages(serve, cli):
    source = serve("source")
    ids = seed(source, copies=1)
    result = cli(source, "export", "--page-size", "3")
    assert result.exit_code == 0
    assert sorted(json.loads(x)["decision"]["id"] for x in result.stdout.splitlines()) == sorted(ids)


def test_a_malformed_line_is_reported_and_skipped_and_the_rest_imported(serve, cli, tmp_path):
    source = serve("source")
    ids = seed(source, copies=1)
    out = tmp_path / "all.jsonl"
    assert cli(source, "export", "--out", str(out)).exit_code == 0
    good = out.read_text(encoding="utf-8").splitlines()
    broken = json.loads(good[1])
    broken["decision"]["confidence"] = 7
    bad = [good[0], json.dumps(broken), "{not json", *good[2:]]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join(bad) + "\n", encoding="utf-8")
    target = serve("target")
    result = cli(target, "--json", "import", str(mixed))
    report = json.loads(result.stdout)
    assert report["imported"] == len(ids) - 1
    reasons = {(s["id"], s["reason"]) for s in report["skipped"]}
    assert (broken["decision"]["id"], "confidence must be a number from 0 to 1") in reasons
    assert any(
        s["reason"].startswith("not valid JSON") and s["where"].endswith(":3") for s in report["skipped"]
    )
    assert target.rpc("cstp.getDecision", {"id": broken["decision"]["id"]})["result"]["found"] is False


def test_a_changed_decision_is_skipped_unless_replace_is_asked(serve, cli, tmp_path):
    source = serve("source")
    ids = seed(source, copies=1)
    out = tmp_path / "all.jsonl"
    assert cli(source, "export", "--out", str(out)).exit_code == 0
    target = serve("target")
    assert cli(target, "import", str(out)).exit_code == 0
    target.result("cstp.updateDecision", {"id": ids[0], "updates": {"context": "changed on the target"}})
    kept = json.loads(cli(target, "--json", "import", str(out)).stdout)
    assert [s["id"] for s in kept["skipped"]] == [ids[0]]
    assert target.result("cstp.getDecision", {"id": ids[0]})["decision"]["context"] == "changed on the target"
    replaced = json.loads(cli(target, "--json", "import", str(out), "--replace").stdout)
    assert replaced["replaced"] == 1
    assert target.result("cstp.getDecision", {"id": ids[0]})["decision"]["context"].startswith("Context for")


def test_bulk_methods_refuse_agents_that_are_not_admins(serve, cli, tmp_path):
    server = serve()
    reply = server.rpc("cstp.importDecisions", {"decisions": []}, token=GUEST_TOKEN)
    assert reply["error"]["code"] == -32003
    assert "admin agents (CSTP_ADMIN_AGENTS)" in reply["error"]["message"]
    assert reply["error"]["data"] == {"reason": "not_admin"}
    result = cli(server, "export", token=GUEST_TOKEN)
    assert result.exit_code == 1
    assert "Error -32003" in result.stderr and "'guest' is not one" in result.stderr


def test_import_bodies_may_exceed_the_usual_limit_up_to_their_own(serve, cli, tmp_path):
    server = serve(max_body_bytes=2048, import_max_body_bytes=4_000_000)
    big = [
        {"id": f"big{n:05d}", "decision": "x" * 200, "confidence": 0.5, "date": "2026-01-01T00:00:00+00:00"}
        for n in range(100)
    ]
    reply = server.rpc("cstp.importDecisions", {"decisions": big})
    assert reply["result"]["imported"] == 100
    too_big_for_others = server.rpc  # any other method keeps the usual limit
    import httpx

    body = {"jsonrpc": "2.0", "id": 1, "method": "cstp.queryDecisions", "params": {"query": "x" * 4000}}
    r = httpx.post(f"{server.url}/cstp", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert (r.status_code, r.json()) == (413, {"detail": "Request body exceeds 2048 bytes"})
    assert too_big_for_others


def test_a_killed_import_resumes_without_duplicates(serve, tmp_path):
    server = serve()
    total = 3000
    file = tmp_path / "many.jsonl"
    with file.open("w", encoding="utf-8") as fh:
        for n in range(total):
            record = {
                "id": f"k{n:07d}",
                "decision": f"decision number {n} about topic {n % 17}",
                "confidence": 0.6,
                "category": "process",
                "date": "2026-03-01T10:00:00+00:00",
                "tags": [f"t{n % 5}"],
            }
            fh.write(
                json.dumps({"format": "cstp.decision", "version": 1, "decision": record, "edges": []}) + "\n"
            )
    env = {**os.environ, "PYTHONPATH": str(SRC), "CSTP_URL": server.url, "CSTP_TOKEN": TOKEN}
    args = [sys.executable, "-m", "cstp.console", "--json", "import", str(file), "--batch-size", "100"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while server.result("cstp.getStats")["total"] < 300:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    stored_after_kill = server.result("cstp.getStats")["total"]
    assert 0 < stored_after_kill < total
    resumed = subprocess.run(args, env=env, capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["imported"] + report["unchanged"] == total
    assert report["unchanged"] >= stored_after_kill - 200  # at most the two batches in flight differ
    assert server.result("cstp.getStats")["total"] == total
    listed = server.result("cstp.listDecisions", {"limit": 500, "tags": ["t3"]})
    assert listed["total"] == total // 5


def test_an_import_the_server_refuses_stops_with_exit_1_and_says_how_to_resume(serve, cli, tmp_path):
    server = serve()
    file = tmp_path / "one.jsonl"
    record = {"id": "r0000001", "decision": "x", "confidence": 0.5, "date": "2026-01-01T00:00:00+00:00"}
    file.write_text(json.dumps(record) + "\n", encoding="utf-8")
    result = cli(server, "import", str(file), token=GUEST_TOKEN)
    assert result.exit_code == 1
    assert "Error -32003" in result.stderr and "run the same command again to resume" in result.stderr


def test_an_export_keeps_free_form_integers_beyond_64_bits_exact(serve, cli, tmp_path):
    source = serve("source")
    seed(source, copies=1)
    out = tmp_path / "all.jsonl"
    assert cli(source, "export", "--out", str(out)).exit_code == 0
    lines = _lines(out)
    lines[0]["decision"]["kpi_indicators"] = {"exact": 2**70, "ratio": 0.1}
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    target = serve("target")
    assert cli(target, "import", str(edited)).exit_code == 0
    again = tmp_path / "again.jsonl"
    assert cli(target, "export", "--out", str(again)).exit_code == 0
    by_id = {x["decision"]["id"]: x for x in _lines(again)}
    chosen = by_id[lines[0]["decision"]["id"]]["decision"]
    assert chosen["kpi_indicators"] == {"exact": 2**70, "ratio": 0.1}
    assert isinstance(chosen["kpi_indicators"]["exact"], int)
    assert '"exact": 1180591620717411303424' in again.read_text(encoding="utf-8")
