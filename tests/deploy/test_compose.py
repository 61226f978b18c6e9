"""The compose stack (docker-compose.yml + the host-network test override) on a real engine."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.conftest import (
    AUTH,
    IMAGE,
    SECRETS_FILE,
    TOKEN,
    TOKENS,
    Stack,
    docker,
    inspect,
    ok,
    query_ids,
    record,
    rpc,
    wait_until,
)

# The first container test also pays for the session's image build (minutes on a cold cache).
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1200)]

RULE = """\
- id: deploy-test-no-friday-deploys
  description: Placed in the mounted guardrails directory by the deployment test
  condition_deploy_day: friday
  action: block
  message: "No {category} deploys on Friday"
"""


@pytest.fixture(scope="module")
def stack(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack shared by the read-only tests of this module (tokens from the environment)."""
    s = Stack(image, tmp_path_factory.mktemp("stack"))
    (s.guardrails / "deploy-test.yaml").write_text(RULE)
    try:
        s.up()
        yield s
    finally:
        s.down(volumes=True)


def health_status(container: str) -> str:
    status: str = inspect(container)["State"]["Health"]["Status"]
    return status


# --- 2. both services reach healthy ---------------------------------------------------------------


def test_compose_up_starts_server_and_chromadb_and_both_become_healthy(stack: Stack) -> None:
    for service in ("chromadb", "cstp-server"):
        container = stack.container(service)
        assert health_status(container) == "healthy", stack.logs()
    # Host networking in tests: compose created no network (never a bridge here).
    networks = docker("network", "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.project}")
    assert ok(networks).strip() == ""


# --- 3. /health, /ready, container health -------------------------------------------------------


def test_health_and_ready_answer_and_the_container_reports_healthy(stack: Stack) -> None:
    health = httpx.get(f"{stack.url}/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    ready = httpx.get(f"{stack.url}/ready", timeout=30)
    assert ready.status_code == 200, ready.text
    components = ready.json()["components"]
    assert (components["store"]["status"], components["store"]["mode"]) == ("OK", "server")
    container = inspect(stack.container("cstp-server"))
    assert container["State"]["Health"]["Status"] == "healthy"
    assert container["State"]["Health"]["Log"][-1]["ExitCode"] == 0
    assert container["Config"]["User"] != "" and not container["Config"]["User"].startswith("0")
    assert container["HostConfig"]["ReadonlyRootfs"] is True


# --- 4. authentication ------------------------------------------------------------------------


def test_auth_with_tokens_from_the_environment(stack: Stack) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "cstp.queryDecisions", "params": {"query": "x"}}
    r = httpx.post(f"{stack.url}/cstp", json=body, timeout=30)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    wrong = {"Authorization": "Bearer wrong-token-0123456789"}
    assert httpx.post(f"{stack.url}/cstp", json=body, headers=wrong, timeout=30).status_code == 401
    r = httpx.post(f"{stack.url}/cstp", json=body, headers=AUTH, timeout=30)
    assert r.status_code == 200 and "decisions" in r.json()["result"], r.text


def test_auth_with_tokens_from_a_docker_secret_file(stack_factory: Any, tmp_path: Path) -> None:
    tokens = tmp_path / "cstp_auth_tokens"
    tokens.write_text(f"{TOKENS}\n")
    gemini = tmp_path / "gemini_api_key"
    gemini.write_text("")  # unused with the local embedder; the secret file must still exist
    for f in (tokens, gemini):
        f.chmod(0o644)
    s = stack_factory(
        tokens="",
        extra_files=(SECRETS_FILE,),
        env={"CSTP_AUTH_TOKENS_SECRET": str(tokens), "GEMINI_API_KEY_SECRET": str(gemini)},
    )
    s.up()
    body = {"jsonrpc": "2.0", "id": 1, "method": "cstp.queryDecisions", "params": {"query": "x"}}
    assert httpx.post(f"{s.url}/cstp", json=body, timeout=30).status_code == 401
    r = httpx.post(f"{s.url}/cstp", json=body, headers=AUTH, timeout=30)
    assert r.status_code == 200 and "result" in r.json(), r.text
    env = inspect(s.container("cstp-server"))["Config"]["Env"]
    assert not any(TOKEN in e for e in env), "the token is not in the container's environment"


def test_compose_refuses_to_start_the_server_without_tokens_and_says_why(
    stack_factory: Any,
) -> None:
    s = stack_factory(tokens="")
    result = s.compose("up", "-d", "--no-build", "--pull", "never", "--wait", "--wait-timeout", "90")
    assert result.returncode != 0
    server = s.container("cstp-server")
    wait_until(lambda: not inspect(server)["State"]["Running"], 60, "the server to exit")
    assert inspect(server)["State"]["ExitCode"] == 2
    logs = docker("logs", server)
    assert "CSTP_AUTH_TOKENS" in logs.stderr + logs.stdout


# --- 5. guardrails from the mounted directory -----------------------------------------------------


def test_guardrail_in_the_mounted_directory_blocks_a_matching_action(stack: Stack) -> None:
    action = {
        "description": "Ship the new checkout flow",
        "category": "process",
        "stakes": "low",
        "confidence": 0.9,
    }
    blocked = rpc(stack.url, "cstp.checkGuardrails", {"action": {**action, "deploy_day": "friday"}})
    assert blocked["allowed"] is False
    assert "deploy-test-no-friday-deploys" in [v["guardrailId"] for v in blocked["violations"]]
    allowed = rpc(stack.url, "cstp.checkGuardrails", {"action": {**action, "deploy_day": "monday"}})
    assert "deploy-test-no-friday-deploys" not in [v["guardrailId"] for v in allowed["violations"]]


# --- 6. record and query through the ChromaDB container -------------------------------------------


def test_recorded_decision_is_found_by_a_query_served_by_the_chromadb_container(
    stack: Stack,
) -> None:
    rid = record(stack.url, "Use PostgreSQL logical replication for the reporting replica")
    assert rid in query_ids(stack.url, "how do we feed the analytics database copy")
    # The vectors live in the chromadb service, not in the server's volume.
    base = f"{stack.chroma_url}/api/v2/tenants/default_tenant/databases/default_database"
    collections = httpx.get(f"{base}/collections", timeout=10).json()
    counts = [
        httpx.get(f"{base}/collections/{c['id']}/count", timeout=10).json()
        for c in collections
        if c["name"].startswith("cstp")
    ]
    assert counts and max(counts) >= 1, collections
    volume = docker(
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{stack.project}_cstp-data:/data:ro",
        "--entrypoint",
        "ls",
        IMAGE,
        "-A",
        "/data",
    )
    assert "chroma" not in ok(volume).split(), "server mode must not create an embedded store"


# --- 7. SIGTERM with a request in flight ----------------------------------------------------------


def batch_of_records(n: int, label: str) -> list[dict[str, Any]]:
    return [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "cstp.recordDecision",
            "params": {"decision": f"Decision {label}{i}: move service {i % 9} behind the gateway"},
        }
        for i in range(n)
    ]


def test_docker_stop_finishes_the_request_in_flight_and_exits_0(stack_factory: Any) -> None:
    # Write admission off: the batch below is sized to take 2 s, past the 1 s admission bound, and
    # every member of it must be written (this test is about the drain; admission has its own).
    s: Stack = stack_factory(env={"CSTP_TEST_WRITE_MAX_WAIT": "0"})
    s.up()
    server = s.container("cstp-server")
    # A batch is answered only when every call in it is done. Size it to take about 2 s here:
    # long enough to be in flight at SIGTERM, well inside CSTP_SHUTDOWN_TIMEOUT (7 s).
    started = time.monotonic()
    probe = httpx.post(f"{s.url}/cstp", json=batch_of_records(10, "probe"), headers=AUTH, timeout=60)
    assert probe.status_code == 200, probe.text
    per_call = (time.monotonic() - started) / 10
    batch = batch_of_records(max(5, min(200, int(2.0 / per_call))), "batch")
    answer: dict[str, Any] = {}

    def send() -> None:
        started = time.monotonic()
        try:
            r = httpx.post(f"{s.url}/cstp", json=batch, headers=AUTH, timeout=60)
            answer["status"], answer["body"] = r.status_code, r.json()
        except Exception as e:  # noqa: BLE001 - reported by the assertions below
            answer["error"] = repr(e)
        answer["seconds"], answer["done"] = time.monotonic() - started, time.monotonic()

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.3)
    stopped = time.monotonic()
    ok(docker("stop", server, timeout=60))  # SIGTERM; Docker kills only after the grace period
    stop_seconds = time.monotonic() - stopped
    sender.join(60)

    state = inspect(server)["State"]
    assert state["ExitCode"] == 0 and not state["OOMKilled"], s.logs()
    assert stop_seconds < 10, f"docker stop took {stop_seconds:.1f}s"
    assert "error" not in answer, answer.get("error")
    assert answer["done"] > stopped, "the batch was still in flight when SIGTERM was sent"
    assert answer["status"] == 200
    assert len(answer["body"]) == len(batch)
    failed = [reply for reply in answer["body"] if not reply.get("result", {}).get("success")]
    assert not failed, failed[:3]


# --- beyond the seed: data survives down + up -----------------------------------------------------


def test_data_survives_compose_down_and_up(stack_factory: Any) -> None:
    s: Stack = stack_factory()
    s.up()
    rid = record(s.url, "Rotate the signing keys every ninety days")
    s.down(volumes=False)
    s.up()
    assert rpc(s.url, "cstp.getDecision", {"id": rid})["found"] is True
    assert rid in query_ids(s.url, "how often do we change cryptographic keys")


# --- MCP through the same published port ----------------------------------------------------------


def test_mcp_is_served_on_the_same_port_with_the_same_tokens(stack: Stack) -> None:
    import anyio

    from tests.web.mcp_live import session

    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    r = httpx.post(f"{stack.url}/mcp", json=init, headers=accept, timeout=30)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"

    async def main() -> str:
        async with session(f"{stack.url}/mcp", TOKEN) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            assert {"query_decisions", "log_decision", "check_action"} <= names
            logged = await s.call_tool(
                "log_decision",
                {"decision": "Serve MCP from the stack", "confidence": 0.7, "category": "integration"},
            )
            assert not logged.is_error, logged.content
            return str(logged.structured_content["id"])

    decision_id = anyio.run(main)
    found = rpc(stack.url, "cstp.getDecision", {"id": decision_id})
    assert found["decision"]["recorded_by"] == "deployer"


def test_stdio_mcp_runs_inside_the_container(stack: Stack) -> None:
    import anyio
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    from tests.deploy.conftest import base_env

    container = stack.container("cstp-server")
    params = StdioServerParameters(
        command="docker",
        args=[
            "exec",
            "-i",
            "-e",
            f"CSTP_TOKEN={TOKEN}",
            "-e",
            f"CSTP_URL={stack.url}",
            container,
            "cstp-server",
            "mcp",
        ],
        env=base_env(),
    )

    async def main() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            result = await s.call_tool("get_stats", {})
            assert not result.is_error, result.content
            assert "overall" in result.structured_content

    anyio.run(main)
