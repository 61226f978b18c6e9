"""CSTP_WORKERS: several server processes on one port (a real Chroma server), and the refusals of
embedded mode (more than one worker; a second process on a data directory in use)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.serverproc import BIN, ServerProcess, free_port

pytestmark = pytest.mark.slow

TOKEN = "workers-token-0123456789"
DEADLINE_S = 60.0
ACTION = {"action": {"description": "Ship the release", "category": "process", "stakes": "low"}}
RULE = (
    "- id: release-freeze\n  description: Release freeze\n  condition_stakes: low\n"
    "  action: block\n  message: Frozen\n"
)


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "CSTP_DATA_DIR": str(tmp_path / "data"),
        "CSTP_AUTH_TOKENS": f"ops:{TOKEN}",
        "GUARDRAILS_WATCH": "false",
        **extra,
    }


def answering_pids(server: ServerProcess, requests: int = 60) -> set[int]:
    """The `cstp_process_id` of the worker that answered each of `requests` concurrent scrapes."""

    def scrape(_: int) -> int:
        text = httpx.get(
            f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        ).text
        match = re.search(r"^cstp_process_id (\d+)", text, re.M)
        assert match, text[:500]
        return int(match.group(1))

    with ThreadPoolExecutor(12) as pool:
        return set(pool.map(scrape, range(requests)))


def gone(pid: int) -> bool:
    """The process has exited (a zombie holds no socket any more) or was reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")


def pids_eventually(server: ServerProcess, count: int) -> set[int]:
    deadline = time.monotonic() + DEADLINE_S
    pids: set[int] = set()
    while time.monotonic() < deadline:
        pids = answering_pids(server)
        if len(pids) >= count:
            return pids
        time.sleep(0.2)
    return pids


def test_workers_share_the_port_reload_on_sighup_restart_and_stop_cleanly(
    tmp_path: Path, chroma_server_url: str
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    settings = env(
        tmp_path,
        CSTP_WORKERS="2",
        CHROMA_URL=chroma_server_url,
        CHROMA_COLLECTION_PREFIX=f"w{uuid.uuid4().hex[:10]}",
        GUARDRAILS_PATHS=str(rules),
    )
    with ServerProcess(settings) as server:
        server.wait_ready()
        supervisor = server.proc.pid
        pids = pids_eventually(server, 2)
        assert len(pids) == 2 and supervisor not in pids, "requests land on two worker processes"

        # A write through the port is readable through the port (whichever worker answers).
        recorded = server.rpc(TOKEN, "cstp.recordDecision", {"decision": "Split the workers evenly"})
        decision_id = recorded["result"]["id"]
        for _ in range(10):
            assert server.rpc(TOKEN, "cstp.getDecision", {"id": decision_id[:8]})["result"]["found"]

        # SIGHUP to the supervisor reloads the guardrails of every worker.
        assert server.rpc(TOKEN, "cstp.checkGuardrails", ACTION)["result"]["allowed"]
        (rules / "freeze.yaml").write_text(RULE, encoding="utf-8")
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and server.output().count("guardrails reloaded") < 2:
            time.sleep(0.1)
        assert server.output().count("guardrails reloaded") == 2
        for _ in range(20):
            assert not server.rpc(TOKEN, "cstp.checkGuardrails", ACTION)["result"]["allowed"]

        # A worker that dies is replaced; the port keeps answering meanwhile. A connection the
        # kernel queued on the dying worker's own socket in the instant of its death is reset, as
        # with any crashed server (docs/OPERATIONS.md): the next one goes to the live worker.
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + DEADLINE_S
        while not gone(victim):
            assert time.monotonic() < deadline, f"worker {victim} still running after SIGKILL"
            time.sleep(0.01)
        assert server.rpc(TOKEN, "cstp.getDecision", {"id": decision_id})["result"]["found"]
        deadline = time.monotonic() + DEADLINE_S
        replaced: set[int] = set()
        while time.monotonic() < deadline:
            replaced = answering_pids(server)
            if len(replaced) == 2 and victim not in replaced:
                break
            time.sleep(0.2)
        assert len(replaced) == 2 and victim not in replaced, replaced

        # SIGTERM: every worker drains and exits, the supervisor exits 0.
        server.signal(signal.SIGTERM)
        assert server.wait(60) == 0, server.output()[-3000:]
        for pid in replaced:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def run_cli(env_vars: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CSTP_", "CHROMA_"))}
    return subprocess.run(
        [str(BIN / "cstp-server"), *args],
        env={**base, "CSTP_HOST": "127.0.0.1", "CSTP_PORT": str(free_port()), **env_vars},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("how", ["env", "flag", "check-config"])
def test_more_than_one_worker_in_embedded_mode_is_refused_saying_what_to_set(
    tmp_path: Path, how: str
) -> None:
    if how == "env":
        result = run_cli(env(tmp_path, CSTP_WORKERS="3"))
    elif how == "flag":
        result = run_cli(env(tmp_path), "--workers", "2")
    else:
        result = run_cli(env(tmp_path, CSTP_WORKERS="2"), "check-config")
    assert result.returncode == 2, result.stderr
    assert "needs a Chroma server" in result.stderr and "CHROMA_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "chroma").exists(), "nothing was opened"


def test_a_second_process_on_an_embedded_data_directory_in_use_is_refused(tmp_path: Path) -> None:
    with ServerProcess(env(tmp_path)) as first:
        first.wait_ready()
        result = run_cli(env(tmp_path))
        assert result.returncode == 1, result.stderr
        assert f"in use by another cstp-server process (pid {first.proc.pid})" in result.stderr
        assert "CHROMA_URL" in result.stderr and "Traceback" not in result.stderr
        assert first.rpc(TOKEN, "cstp.recordDecision", {"decision": "The first one keeps serving"})["result"]
        first.proc.send_signal(signal.SIGKILL)  # the kernel drops the lock with the process
        first.wait(30)
    with ServerProcess(env(tmp_path)) as again:
        again.wait_ready()
        listed = again.rpc(TOKEN, "cstp.listDecisions", {})["result"]
        assert listed["total"] == 1


def test_another_data_directory_is_not_blocked(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    with (
        ServerProcess(env(tmp_path / "a")) as a,
        ServerProcess(env(tmp_path / "b")) as b,
    ):
        a.wait_ready()
        b.wait_ready()


def test_workers_that_cannot_start_stop_the_supervisor_with_the_single_servers_status(
    tmp_path: Path, chroma_server_url: str
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yaml").write_text("- id: x\n  condition: 'action.stakes =='\n  action: block\n")
    settings = env(tmp_path, CSTP_WORKERS="2", CHROMA_URL=chroma_server_url, GUARDRAILS_PATHS=str(rules))
    result = run_cli(settings)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "broken.yaml" in result.stderr and "Traceback" not in result.stderr


def test_invalid_tokens_with_workers_are_refused_like_a_single_server(tmp_path: Path) -> None:
    settings = env(tmp_path, CSTP_WORKERS="2", CHROMA_URL="http://127.0.0.1:9")
    settings["CSTP_AUTH_TOKENS"] = "a:short"
    result = run_cli(settings)
    assert result.returncode == 2, result.stderr
    assert "CSTP_AUTH_TOKENS" in result.stderr and "Traceback" not in result.stderr


def test_a_generated_token_is_shared_by_every_worker(tmp_path: Path, chroma_server_url: str) -> None:
    settings = env(
        tmp_path,
        CSTP_WORKERS="2",
        CHROMA_URL=chroma_server_url,
        CHROMA_COLLECTION_PREFIX=f"t{uuid.uuid4().hex[:10]}",
    )
    del settings["CSTP_AUTH_TOKENS"]
    with ServerProcess(settings) as server:
        server.wait_ready()
        assert len(pids_eventually(server, 2)) == 2
        token = (tmp_path / "data" / "auth_token").read_text().strip()
        assert server.output().count("Authorization: Bearer") == 1, "generated once, by the supervisor"

        def listed(_: int) -> int:
            body = {"jsonrpc": "2.0", "id": 1, "method": "cstp.listGuardrails", "params": {}}
            with httpx.Client(base_url=server.url) as client:  # a new connection: any worker
                r = client.post("/cstp", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            return r.status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(listed, range(40))) == {200}
