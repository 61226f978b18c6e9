"""The scale profile's files checked without a Docker engine: docker-compose.scale.yml (as Compose
merges it over docker-compose.yml) and docker/haproxy/haproxy.cfg (as `haproxy -c` reads it)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import yaml

from cstp.settings import Settings
from tests.balancer import CONFIG, require_haproxy
from tests.deploy.conftest import COMPOSE_FILE, REPO, base_env
from tests.deploy.test_static import compose_cli, seconds

SCALE_FILE = REPO / "docker-compose.scale.yml"
REPLICAS = ("cstp-1", "cstp-2", "cstp-3")


def merged() -> dict[str, Any]:
    compose_cli()
    files = ["-f", str(COMPOSE_FILE), "-f", str(SCALE_FILE)]
    result = subprocess.run(
        ["docker", "compose", *files, "--profile", "scale", "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=base_env(),
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_scale_profile_runs_three_replicas_and_haproxy_on_host_networking_only() -> None:
    services = merged()["services"]
    assert set(services) == {*REPLICAS, "haproxy", "chromadb"}  # the single server is off
    for name, service in services.items():
        assert service.get("network_mode") == "host", name
        assert not service.get("ports"), name
    ports = {services[r]["environment"]["CSTP_PORT"] for r in REPLICAS}
    assert len(ports) == 3
    for replica in REPLICAS:
        env = services[replica]["environment"]
        assert env["CSTP_HOST"] == "127.0.0.1"
        assert env["CHROMA_URL"].startswith("http://127.0.0.1:")
    # ChromaDB listens on loopback only.
    command = services["chromadb"]["command"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    haproxy = services["haproxy"]
    assert haproxy["image"] == "haproxy:2.6"
    mount = next(v for v in haproxy["volumes"] if v["target"] == "/usr/local/etc/haproxy/haproxy.cfg")
    assert mount["source"] == str(CONFIG) and mount["read_only"] is True
    backends = {haproxy["environment"][f"CSTP_REPLICA_{i}"] for i in (1, 2, 3)}
    assert backends == {f"127.0.0.1:{p}" for p in ports}


def test_replicas_drain_and_stop_within_their_grace_period() -> None:
    services = merged()["services"]
    timeout = Settings.model_fields["shutdown_timeout"].default
    for replica in REPLICAS:
        drain = float(services[replica]["environment"]["CSTP_SHUTDOWN_DRAIN_S"])
        assert drain >= 3, "HAProxy checks every 1 s and needs 2 failures"
        grace = seconds(services[replica]["stop_grace_period"])
        assert grace > drain + timeout + 5


def test_haproxy_config_is_valid_and_checks_ready_with_safe_retries() -> None:
    exe = require_haproxy()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CSTP_PUBLISH_ADDRESS": "127.0.0.1",
        "CSTP_PORT": "8100",
        **{f"CSTP_REPLICA_{i}": f"127.0.0.1:{8100 + i}" for i in (1, 2, 3)},
    }
    check = subprocess.run([exe, "-c", "-f", str(CONFIG)], capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    lines = [line.split("#")[0].strip() for line in CONFIG.read_text().splitlines()]
    assert "option httpchk GET /ready" in lines
    assert "retry-on conn-failure empty-response" in lines
    assert "option redispatch 1" in lines
    # A POST (JSON-RPC, MCP) that may have been processed is never resent.
    assert "http-request disable-l7-retry unless METH_GET || METH_HEAD" in lines
    assert any(line.startswith("balance leastconn") for line in lines)


def test_scale_file_is_documented() -> None:
    scaling = (REPO / "docs" / "SCALING.md").read_text()
    assert "docker-compose.scale.yml" in scaling and "CSTP_SHUTDOWN_DRAIN_S" in scaling
    for doc in ("README.md", "docs/DOCKER.md"):
        assert "SCALING.md" in (REPO / doc).read_text(), doc
    yaml.safe_load(SCALE_FILE.read_text())  # plain YAML, anchors included
