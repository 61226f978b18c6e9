"""The image on a real engine: what is in it, and the container running alone (no compose)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.conftest import (
    AUTH,
    REPO,
    TEST_OVERRIDE,
    TOKEN,
    TOKENS,
    base_env,
    docker,
    free_port,
    inspect,
    ok,
    query_ids,
    record,
    rpc,
    wait_until,
)

# The first container test also pays for the session's image build (minutes on a cold cache).
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1200)]

# Everything the tests ask of a hardened standalone container.
HARDENED = (
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
)


def wait_ready(url: str, container: Any, timeout: float = 120) -> dict[str, Any]:
    def ready() -> Any:
        state = container.state()
        if not state["Running"]:
            raise AssertionError(f"container exited {state['ExitCode']}:\n{container.logs()}")
        r = httpx.get(f"{url}/ready", timeout=5)
        return r.json() if r.status_code == 200 else None

    result: dict[str, Any] = wait_until(ready, timeout, f"{url}/ready")
    return result


# --- 1. the image -------------------------------------------------------------------------------


def test_docker_build_succeeds_and_the_image_runs_as_a_numeric_non_root_user(image: str) -> None:
    user = inspect(image)["Config"]["User"]
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), f"numeric non-root USER, got {user!r}"
    ids = ok(docker("run", "--rm", "--network", "none", "--entrypoint", "id", image)).split()
    assert ids[0].startswith(f"uid={user.split(':')[0]}(") and not ids[0].startswith("uid=0(")


def test_image_has_nothing_curl_like_no_compilers_and_no_pip_in_the_venv(image: str) -> None:
    script = (
        "for t in curl wget nc ncat socat gcc cc g++ make; do "
        'if command -v "$t" >/dev/null 2>&1; then echo "found $t"; fi; '
        "done; "
        "ls /opt/venv/bin | grep -E '^pip' && echo 'found pip in venv'; "
        "python -c 'import pip' 2>/dev/null && echo 'venv python imports pip'; true"
    )
    out = ok(docker("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", script))
    assert "found" not in out and "imports pip" not in out, out


def test_image_ships_the_model_guardrails_and_config_and_checks_them_offline(image: str) -> None:
    result = docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--read-only",
        "-e",
        f"CSTP_AUTH_TOKENS={TOKENS}",
        image,
        "check-config",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shipped = sorted(p.name for p in (REPO / "guardrails").glob("*.yaml"))
    listing = ok(
        docker(
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "ls",
            image,
            "/etc/cstp/guardrails",
            "/etc/cstp/config",
        )
    )
    for name in [*shipped, "cstp.yaml"]:
        assert name in listing, listing


def test_image_metadata_labels_env_and_healthcheck(image: str) -> None:
    config = inspect(image)["Config"]
    assert "8100/tcp" in config["ExposedPorts"]
    assert config["Labels"]["org.opencontainers.image.title"] == "cstp"
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["ORT_DISABLE_TELEMETRY"] == "1" and env["HF_HUB_OFFLINE"] == "1"
    assert env["CSTP_DATA_DIR"] == "/data" and env["HOME"] == "/home/cstp"
    check = " ".join(config["Healthcheck"]["Test"])
    assert "CSTP_PORT" in check and "curl" not in check
    assert "/data" in (config.get("Volumes") or {})


def test_the_entrypoint_refuses_to_start_without_tokens_when_compose_requires_them(
    image: str,
) -> None:
    result = docker(
        "run",
        "--rm",
        "--network",
        "none",
        "-e",
        "CSTP_REQUIRE_AUTH_TOKENS=true",
        "-e",
        "CSTP_AUTH_TOKENS=",
        image,
    )
    assert result.returncode == 2
    assert "CSTP_AUTH_TOKENS" in result.stderr and "Traceback" not in result.stderr


def test_compose_build_builds_the_same_image_with_buildkit(image: str, tmp_path: Path) -> None:
    tag = f"cstp:test-buildkit-{uuid.uuid4().hex[:8]}"
    empty = tmp_path / "empty.env"
    empty.write_text("")
    env = base_env(
        CSTP_IMAGE=tag,
        CSTP_TEST_PORT="18100",
        CSTP_TEST_CHROMA_PORT="18000",
        CSTP_TEST_GUARDRAILS=str(tmp_path),
    )
    try:
        result = docker(
            "compose",
            "-p",
            f"cstp-build-{uuid.uuid4().hex[:8]}",
            "--env-file",
            str(empty),
            "-f",
            str(REPO / "docker-compose.yml"),
            "-f",
            str(TEST_OVERRIDE),
            "build",
            "--progress",
            "plain",
            "cstp-server",
            timeout=1800,
            env=env,
        )
        ok(result)
        assert "DONE" in result.stdout + result.stderr, "BuildKit progress output"
        user = inspect(tag)["Config"]["User"]
        assert user == inspect(image)["Config"]["User"]
        out = ok(docker("run", "--rm", "--network", "none", "--entrypoint", "id", tag, "-u"))
        assert out.strip() == user.split(":")[0]
    finally:
        docker("image", "rm", "-f", tag)


# --- the image alone (docker run) -----------------------------------------------------------------


def test_standalone_hardened_container_serves_and_keeps_data_on_a_named_volume(
    container_factory: Any,
) -> None:
    volume = container_factory.volume()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ("--network", "host", *HARDENED, "-v", f"{volume}:/data")
    env = {"CSTP_HOST": "127.0.0.1", "CSTP_PORT": str(port), "CSTP_AUTH_TOKENS": TOKENS}

    first = container_factory(*args, env=env)
    ready = wait_ready(url, first)
    assert ready["components"]["store"]["mode"] == "embedded"
    rid = record(url, "Shard the invoices table by customer id")
    assert rid in query_ids(url, "partitioning the billing data per client")
    ok(docker("stop", first.name, timeout=60))
    assert first.state()["ExitCode"] == 0, first.logs()

    second = container_factory(*args, env=env)
    wait_ready(url, second)
    got = rpc(url, "cstp.getDecision", {"id": rid})
    assert got["found"] is True
    assert rid in query_ids(url, "partitioning the billing data per client")


def test_standalone_container_starts_and_answers_with_network_none(container_factory: Any) -> None:
    # A non-default port: the image's healthcheck has to follow CSTP_PORT to turn healthy.
    env = {"CSTP_PORT": "9123", "CSTP_AUTH_TOKENS": TOKENS}
    c = container_factory("--network", "none", *HARDENED, env=env)

    def healthy() -> bool:
        state = c.state()
        assert state["Running"], c.logs()
        return c.health() == "healthy"

    wait_until(healthy, 120, "health status healthy")
    code = f"""
import json, urllib.request as u
base = "http://127.0.0.1:9123"
def post(method, params):
    body = json.dumps({{"jsonrpc": "2.0", "id": 1, "method": method, "params": params}}).encode()
    req = u.Request(base + "/cstp", body, {{"Authorization": "Bearer {TOKEN}",
                                            "Content-Type": "application/json"}})
    return json.load(u.urlopen(req, timeout=60))["result"]
out = {{"health": json.load(u.urlopen(base + "/health", timeout=10)),
        "ready": json.load(u.urlopen(base + "/ready", timeout=30))}}
out["id"] = post("cstp.recordDecision", {{"decision": "Cache sessions in Redis",
                                          "confidence": 0.7, "category": "architecture",
                                          "stakes": "low"}})["id"]
out["hits"] = [d["id"] for d in post("cstp.queryDecisions",
                                    {{"query": "where to keep user sessions", "limit": 3}})["decisions"]]
print(json.dumps(out))
"""
    out = json.loads(c.exec_python(code).strip().splitlines()[-1])
    assert out["health"]["status"] == "healthy"
    assert out["ready"]["status"] == "ready"
    assert out["id"] in out["hits"]


def test_standalone_auth_tokens_from_a_secret_file(container_factory: Any, tmp_path: Path) -> None:
    secret = tmp_path / "cstp_auth_tokens"
    secret.write_text(f"{TOKENS}\n")
    secret.chmod(0o644)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    c = container_factory(
        "--network",
        "host",
        *HARDENED,
        "-v",
        f"{secret}:/run/secrets/cstp_auth_tokens:ro",
        env={
            "CSTP_HOST": "127.0.0.1",
            "CSTP_PORT": str(port),
            "CSTP_AUTH_TOKENS_FILE": "/run/secrets/cstp_auth_tokens",
            "CSTP_REQUIRE_AUTH_TOKENS": "true",
        },
    )
    wait_ready(url, c)
    body = {"jsonrpc": "2.0", "id": 1, "method": "cstp.queryDecisions", "params": {"query": "x"}}
    assert httpx.post(f"{url}/cstp", json=body, timeout=30).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert httpx.post(f"{url}/cstp", json=body, headers=wrong, timeout=30).status_code == 401
    r = httpx.post(f"{url}/cstp", json=body, headers=AUTH, timeout=30)
    assert r.status_code == 200 and "result" in r.json(), r.text
    assert TOKEN not in json.dumps(inspect(c.name)["Config"]["Env"]), "token not in the env"
