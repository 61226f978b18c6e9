"""`cstp backup` / `cstp restore`: a running server's collections, vectors included."""

from __future__ import annotations

import json
import threading

import pytest

from tests.console.seed import seed, snapshot_of


def test_backup_then_restore_into_an_empty_server_gives_identical_results(serve, cli, tmp_path):
    source = serve("source")
    ids = seed(source)
    backup = cli(source, "--json", "backup", str(tmp_path / "bk"))
    assert backup.exit_code == 0, backup.stderr
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    kinds = [c["kind"] for c in manifest["collections"]]
    assert kinds[-1] == "records" and "edges" in kinds and "test-hash-384" in kinds
    target = serve("target")
    assert target.result("cstp.getStats", {})["total"] == 0
    restored = cli(target, "--json", "restore", str(tmp_path / "bk"))
    assert restored.exit_code == 0, restored.stderr
    assert json.loads(restored.stdout)["reindexed"] == 0  # every vector came back as it was
    assert snapshot_of(target, ids) == snapshot_of(source, ids)
    # Listing and stats (answered from the browse catalogue, which follows the records' write
    # stamps) show the restored decisions too.
    listed = target.result("cstp.listDecisions", {"limit": 500})
    assert listed["total"] == len(ids) and sorted(d["id"] for d in listed["decisions"]) == sorted(ids)
    assert target.result("cstp.getStats", {})["total"] == len(ids)
    # The restored server goes on working: new ids are not handed out twice, writes are indexed.
    new = target.result("cstp.recordDecision", {"decision": "After the restore", "confidence": 0.5})
    assert new["id"] not in ids and new["indexed"]


def test_a_backup_taken_while_writes_continue_restores_consistently(serve, cli, tmp_path):
    source = serve("source")
    ids = seed(source, copies=2)
    stop = threading.Event()
    written: list[str] = []
    reviewed: list[str] = []

    def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            written.append(
                source.result("cstp.recordDecision", {"decision": f"concurrent {n}", "confidence": 0.5})["id"]
            )
            if n % 3 == 0:
                source.result("cstp.reviewDecision", {"id": ids[n % len(ids)], "outcome": "success"})
                reviewed.append(ids[n % len(ids)])
            n += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        result = cli(source, "backup", str(tmp_path / "bk"), "--page-size", "5")
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.stderr
    assert written, "the writer did not run during the backup"
    target = serve("target")
    assert cli(target, "restore", str(tmp_path / "bk")).exit_code == 0
    # Every decision that existed when the backup began is there, each as one of its real states.
    for i in ids:
        got = target.result("cstp.getDecision", {"id": i})["decision"]
        assert got["status"] in ("pending", "reviewed")
    stats = target.result("cstp.getStats")
    assert stats["total"] >= len(ids)
    # The index agrees with the records: every restored record has its vector at the record's
    # revision (so a search finds it with its restored status), and the index holds nothing else.
    assert target.store.index_versions() == target.store.record_versions()
    i = ids[0]
    text = target.result("cstp.getDecision", {"id": i})["decision"]["decision"]
    hits = target.result("cstp.queryDecisions", {"query": text, "limit": 50})["decisions"]
    assert (
        next(h for h in hits if h["id"] == i)["status"]
        == (target.result("cstp.getDecision", {"id": i})["decision"]["status"])
    )


def test_restore_refuses_a_server_that_holds_decisions_and_an_incomplete_backup(serve, cli, tmp_path):
    source = serve("source")
    seed(source, copies=1)
    assert cli(source, "backup", str(tmp_path / "bk")).exit_code == 0
    refused = cli(source, "restore", str(tmp_path / "bk"))
    assert refused.exit_code == 1 and "already holds" in refused.stderr
    half = tmp_path / ("half-" + "x" * 120)  # a long path: the message must not be wrapped
    half.mkdir()
    (half / "records.jsonl").write_text("")
    target = serve("target")
    incomplete = cli(target, "restore", str(half))
    assert incomplete.exit_code == 2 and f"{half} holds no complete backup" in incomplete.stderr
    not_empty = cli(source, "backup", str(tmp_path / "bk"))
    assert not_empty.exit_code == 2 and "not empty" in not_empty.stderr


@pytest.mark.chroma_server
def test_backup_of_a_chroma_server_deployment_restores_into_an_embedded_one(
    serve, cli, tmp_path, chroma_server_url
):
    source = serve("source", chroma_url=chroma_server_url)
    ids = seed(source, copies=1)
    assert cli(source, "backup", str(tmp_path / "bk")).exit_code == 0
    target = serve("target")
    assert cli(target, "restore", str(tmp_path / "bk")).exit_code == 0
    assert snapshot_of(target, ids) == snapshot_of(source, ids)
    back = serve("back", chroma_url=chroma_server_url)
    assert cli(back, "restore", str(tmp_path / "bk")).exit_code == 0
    assert snapshot_of(back, ids) == snapshot_of(source, ids)
