"""Several real `cstp-server` processes on one real Chroma server behave as one.

Three processes with concurrent writers for a bounded time: every acknowledged id is distinct and
readable through every process; keyword search, semantic search and the session digest of every
process find a write made on another; a guardrail edit in the shared rules directory reaches all
of them. The documented bound for the read models is 2 s (docs/OPERATIONS.md); tests poll with a
generous deadline and never assert how long it took.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cstp.client.http import refused_as_busy
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.slow

TOKEN = "scale-token-0123456789"
WRITE_SECONDS = 4.0
WRITERS_PER_PROCESS = 3
DEADLINE_S = 30.0  # polling deadline; the bound itself is documented, not asserted
ACTION = {"action": {"description": "Ship the release", "category": "process", "stakes": "low"}}
RULE = (
    "- id: release-freeze\n  description: Release freeze\n  condition_stakes: low\n"
    "  action: block\n  message: Frozen\n"
)


def env(tmp_path: Path, name: str, url: str, prefix: str, rules: Path, **extra: str) -> dict[str, str]:
    (tmp_path / name).mkdir(exist_ok=True)
    return {
        "CSTP_DATA_DIR": str(tmp_path / name / "data"),
        "CSTP_AUTH_TOKENS": f"ops:{TOKEN}",
        "GUARDRAILS_PATHS": str(rules),
        "CHROMA_URL": url,
        "CHROMA_COLLECTION_PREFIX": prefix,
        # Every write here must be acknowledged: admission control ("Server busy", refused before
        # anything is stored) is tested in tests/methods/test_write_admission.py, not here.
        "CSTP_WRITE_MAX_WAIT": "0",
        **extra,
    }


def call(server: ServerProcess, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply = server.rpc(TOKEN, method, params)
    assert "result" in reply, reply
    return reply["result"]  # type: ignore[no-any-return]


def eventually(condition: Callable[[], bool], timeout: float = DEADLINE_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def write_for(server: ServerProcess, seconds: float, tag: str, acked: list[str], errors: list[str]) -> None:
    """Record decisions on `server` until `seconds` passed; keep the ids of acknowledged writes."""
    until = time.monotonic() + seconds
    n = 0
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        while time.monotonic() < until:
            n += 1
            body = {
                "jsonrpc": "2.0",
                "id": n,
                "method": "cstp.recordDecision",
                "params": {"decision": f"{tag} write {n} about the cache layer", "tags": [tag]},
            }
            try:
                reply = client.post("/cstp", json=body, timeout=60).json()
            except httpx.HTTPError as e:
                errors.append(repr(e))
                continue
            if "result" in reply and reply["result"].get("success"):
                acked.append(reply["result"]["id"])
            elif refused_as_busy(reply):  # nothing stored: sent again after the hint, as a client does
                time.sleep(min(2.0, reply["error"]["data"]["retryAfterMs"] / 1000))
            else:
                errors.append(str(reply))


def test_three_processes_on_one_chroma_server_behave_as_one(tmp_path: Path, chroma_server_url: str) -> None:
    prefix = f"s{uuid.uuid4().hex[:10]}"
    rules = tmp_path / "rules"
    rules.mkdir()
    servers = [ServerProcess(env(tmp_path, f"p{i}", chroma_server_url, prefix, rules)) for i in range(3)]
    try:
        for s in servers:
            s.wait_ready()
        # --- concurrent writers on every process, for a bounded time ---------------------------
        acked: list[list[str]] = [[] for _ in range(len(servers) * WRITERS_PER_PROCESS)]
        errors: list[str] = []
        threads = [
            threading.Thread(
                target=write_for,
                args=(servers[i % len(servers)], WRITE_SECONDS, f"w{i}", acked[i], errors),
            )
            for i in range(len(acked))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        ids = [i for per_writer in acked for i in per_writer]
        assert not errors, errors[:3]
        assert len(ids) >= len(threads), "every writer got at least one write acknowledged"
        assert len(set(ids)) == len(ids), "acknowledged ids are distinct"
        assert all(len(i) == 16 for i in ids)
        # --- every acknowledged write is readable through every process ------------------------
        for s in servers:
            with httpx.Client(base_url=s.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
                batch = [
                    {"jsonrpc": "2.0", "id": n, "method": "cstp.getDecision", "params": {"id": i}}
                    for n, i in enumerate(ids)
                ]
                replies = client.post("/cstp", json=batch, timeout=120).json()
            found = {r["result"]["decision"]["id"] for r in replies if r["result"].get("found")}
            assert found == set(ids), f"{len(set(ids) - found)} writes not readable through {s.url}"
            assert call(s, "cstp.getStats", {})["total"] == len(ids)

        # --- a write on one process is found by the others' searches and digest ---------------
        for s in servers:  # warm every read model (keyword index, digest) before the write
            call(s, "cstp.queryDecisions", {"query": "cache layer", "retrievalMode": "keyword"})
            call(s, "cstp.getSessionContext", {"include": ["patterns"]})
        word = f"zq{uuid.uuid4().hex[:8]}"
        text = f"Adopt the {word} quarantine procedure for flaky deploy pipelines"
        recorded = call(servers[0], "cstp.recordDecision", {"decision": text})
        new_id = recorded["id"]
        assert recorded["indexed"], "the record was saved unindexed (its embedding failed)"
        total = len(ids) + 1
        for s in servers[1:]:

            def keyword_finds(s: ServerProcess = s) -> bool:
                hits = call(s, "cstp.queryDecisions", {"query": word, "retrievalMode": "keyword"})
                return new_id in [d["id"] for d in hits["decisions"]]

            def semantic_hits(s: ServerProcess = s, limit: int = 3) -> list[tuple[str, float]]:
                hits = call(s, "cstp.queryDecisions", {"query": text, "limit": limit})
                return [(d["id"], d["distance"]) for d in hits["decisions"]]

            def semantic_finds(s: ServerProcess = s) -> bool:
                return new_id in [i for i, _ in semantic_hits(s)]

            def digest_counts(s: ServerProcess = s) -> bool:
                ctx = call(s, "cstp.getSessionContext", {"include": ["patterns"]})
                return bool(ctx["agentProfile"]["totalDecisions"] == total)

            assert eventually(keyword_finds), f"keyword search on {s.url} never found {new_id}"
            assert eventually(semantic_finds), (
                f"semantic search on {s.url} never found {new_id}: its 10 nearest there"
                f" {semantic_hits(s, 10)}, on the writer {semantic_hits(servers[0], 10)}"
            )
            assert eventually(digest_counts), f"the session digest on {s.url} never counted {new_id}"
        # own write: visible to the writer's next request at once
        hits = call(servers[0], "cstp.queryDecisions", {"query": word, "retrievalMode": "keyword"})
        assert new_id in [d["id"] for d in hits["decisions"]]

        # --- a guardrail edit on the shared rules directory reaches every process ---------------
        assert all(call(s, "cstp.checkGuardrails", ACTION)["allowed"] for s in servers)
        (rules / "freeze.yaml").write_text(RULE, encoding="utf-8")
        for s in servers:
            assert eventually(lambda s=s: not call(s, "cstp.checkGuardrails", ACTION)["allowed"]), (
                f"the rule edit never reached {s.url}"
            )
    finally:
        for s in servers:
            s.stop()


def test_ids_given_as_8_character_prefixes_resolve_across_processes(
    tmp_path: Path, chroma_server_url: str
) -> None:
    prefix = f"s{uuid.uuid4().hex[:10]}"
    rules = tmp_path / "rules"
    rules.mkdir()
    with (
        ServerProcess(env(tmp_path, "a", chroma_server_url, prefix, rules)) as a,
        ServerProcess(env(tmp_path, "b", chroma_server_url, prefix, rules)) as b,
    ):
        a.wait_ready()
        b.wait_ready()
        first = call(a, "cstp.recordDecision", {"decision": "Use a queue between the two services"})["id"]
        second = call(b, "cstp.recordDecision", {"decision": "Retry the queue consumer with backoff"})["id"]
        got = call(b, "cstp.getDecision", {"id": first[:8]})
        assert got["found"] and got["decision"]["id"] == first
        link = {"sourceId": second[:8], "targetId": first[:8], "edgeType": "depends_on"}
        assert call(a, "cstp.linkDecisions", link)["success"]
        neighbors = call(b, "cstp.getNeighbors", {"nodeId": first[:8], "direction": "both", "limit": 20})
        assert [n["node"]["id"] for n in neighbors["neighbors"]] == [second]
        reviewed = call(a, "cstp.reviewDecision", {"id": second[:8], "outcome": "success"})
        assert reviewed["success"] and reviewed["id"] == second
