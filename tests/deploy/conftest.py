"""Helpers for the deployment tests: a real Docker engine, the project's image and compose stack.

Container tests are marked `docker`. They run when an engine is reachable and skip otherwise;
with CSTP_REQUIRE_DOCKER=1 (set by .ci/run) an unreachable engine is a failure instead.

Network rule of this environment: host networking only (the engine has no bridge network) and
traffic to 127.0.0.1 only. Every container listens on a free loopback port chosen here; compose
stacks add tests/deploy/compose.test.yml over the production docker-compose.yml.
"""

from __future__ import annotations

import functools
import json
import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
SECRETS_FILE = REPO / "docker-compose.secrets.yml"
TEST_OVERRIDE = Path(__file__).resolve().parent / "compose.test.yml"
IMAGE = "cstp:test"
TOKEN = "deploy-test-token-0123456789abcdef"
TOKENS = f"deployer:{TOKEN}"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Variables of the developer's shell that must not leak into containers or compose interpolation.
_OURS = ("CSTP_", "CHROMA_", "GEMINI_", "GUARDRAILS_", "EMBEDDING_", "LOG_LEVEL", "PYTHON_IMAGE")


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(ORT_DISABLE_TELEMETRY="1", ANONYMIZED_TELEMETRY="False", HF_HUB_OFFLINE="1")
    env.update(extra)
    return env


def docker(
    *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; never raises on a non-zero exit (callers assert on it)."""
    return subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or base_env(),
        stdin=subprocess.DEVNULL,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    )
    return result.stdout


@functools.cache
def engine_problem() -> str | None:
    """Why container tests cannot run here, or None when a Docker engine and Compose v2 answer."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", timeout=30)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if info.returncode != 0 or not info.stdout.strip():
        return f"no Docker engine reachable: {info.stderr.strip()[:300]}"
    compose = docker("compose", "version", "--short", timeout=30)
    if compose.returncode != 0:
        return f"Docker Compose v2 is not installed: {compose.stderr.strip()[:300]}"
    return None


def require_engine() -> None:
    problem = engine_problem()
    if problem is None:
        return
    if os.environ.get("CSTP_REQUIRE_DOCKER") == "1":
        pytest.fail(f"CSTP_REQUIRE_DOCKER=1 but {problem}", pytrace=False)
    pytest.skip(problem)


def free_port() -> int:
    """A free loopback port below the ephemeral range.

    A port from bind(0) is an ephemeral one: between this check and the container binding it, an
    outgoing connection of some other test may take it as its source port. Ports below the
    ephemeral range (32768+ on Linux) are handed out only on request.
    """
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


def inspect(name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(ok(docker("inspect", name)))
    return data[0]


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (httpx.HTTPError, OSError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def rpc(url: str, method: str, params: dict[str, Any], token: str = TOKEN) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    r = httpx.post(f"{url}/cstp", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert r.status_code == 200, r.text
    reply = r.json()
    assert "result" in reply, reply
    return reply["result"]


def record(url: str, text: str) -> str:
    """Record a decision over JSON-RPC; returns its id."""
    params = {"decision": text, "confidence": 0.8, "category": "architecture", "stakes": "medium"}
    result = rpc(url, "cstp.recordDecision", params)
    assert result["success"] is True, result
    rid: str = result["id"]
    return rid


def query_ids(url: str, text: str) -> list[str]:
    """Ids of the top-5 semantic matches for `text`."""
    result = rpc(url, "cstp.queryDecisions", {"query": text, "limit": 5})
    return [d["id"] for d in result["decisions"]]


@pytest.fixture(scope="session")
def image() -> str:
    """The project's image, built once per session with the classic builder (`docker build .`)."""
    require_engine()
    result = docker(
        "build",
        "--network",
        "host",
        "-t",
        IMAGE,
        str(REPO),
        timeout=1800,
        env=base_env(DOCKER_BUILDKIT="0"),
    )
    ok(result)
    return IMAGE


class Container:
    """A standalone `docker run -d` container, removed (with its volumes) on exit."""

    def __init__(self, image: str, *run_args: str, env: dict[str, str] | None = None) -> None:
        self.name = f"cstp-test-{uuid.uuid4().hex[:10]}"
        args = ["run", "-d", "--name", self.name, "--health-interval", "1s"]
        for key, value in (env or {}).items():
            args += ["-e", f"{key}={value}"]
        self.id = ok(docker(*args, *run_args, image)).strip()

    def logs(self) -> str:
        r = docker("logs", self.name)
        return r.stdout + r.stderr

    def exec_python(self, code: str, timeout: float = 120) -> str:
        return ok(docker("exec", self.name, "python", "-c", code, timeout=timeout))

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = inspect(self.name)["State"]
        return state

    def health(self) -> str | None:
        health = self.state().get("Health")
        return health["Status"] if health else None

    def remove(self) -> None:
        docker("rm", "-f", "-v", self.name, timeout=60)


class Stack:
    """The production compose file plus the host-network test override, as a unique project."""

    def __init__(
        self,
        image: str,
        workdir: Path,
        *,
        tokens: str = TOKENS,
        extra_files: tuple[Path, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.project = f"cstp-test-{uuid.uuid4().hex[:10]}"
        self.port = free_port()
        self.chroma_port = free_port()
        while self.chroma_port == self.port:
            self.chroma_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.chroma_url = f"http://127.0.0.1:{self.chroma_port}"
        self.guardrails = workdir / "guardrails"
        self.guardrails.mkdir(parents=True, exist_ok=True)
        # Compose reads the project's .env for interpolation; give it an empty one instead.
        self.env_file = workdir / "compose.env"
        self.env_file.write_text("")
        self.files = (COMPOSE_FILE, *extra_files, TEST_OVERRIDE)
        self.env = base_env(
            CSTP_IMAGE=image,
            CSTP_TEST_PORT=str(self.port),
            CSTP_TEST_CHROMA_PORT=str(self.chroma_port),
            CSTP_TEST_GUARDRAILS=str(self.guardrails),
            CSTP_TEST_TOKENS=tokens,
            **(env or {}),
        )

    def compose(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        files = [a for f in self.files for a in ("-f", str(f))]
        cmd = ["compose", "-p", self.project, "--env-file", str(self.env_file), *files, *args]
        return docker(*cmd, timeout=timeout, env=self.env)

    def up(self, *, wait: bool = True) -> None:
        args = ["up", "-d", "--no-build", "--pull", "never"]
        if wait:
            args += ["--wait", "--wait-timeout", "180"]
        result = self.compose(*args)
        if result.returncode != 0:
            raise AssertionError(f"compose up failed:\n{result.stderr[-3000:]}\n{self.logs()}")

    def down(self, *, volumes: bool) -> None:
        args = ["down", "--remove-orphans", "-t", "20"] + (["-v"] if volumes else [])
        ok(self.compose(*args))

    def container(self, service: str) -> str:
        cid = ok(self.compose("ps", "-a", "-q", service)).strip()
        assert cid, f"no container for {service}"
        return cid

    def logs(self) -> str:
        """State of the containers and the server's log (ChromaDB's is long and rarely the cause)."""
        ps = self.compose("ps", "-a", "--format", "{{.Service}}: {{.Status}}")
        server = self.compose("logs", "--no-color", "--tail", "80", "cstp-server")
        chroma = self.compose("logs", "--no-color", "--tail", "15", "chromadb")
        return (
            f"{ps.stdout}{ps.stderr}\n--- cstp-server ---\n{server.stdout[-6000:]}{server.stderr[-1000:]}"
            f"\n--- chromadb ---\n{chroma.stdout[-2000:]}"
        )


@pytest.fixture
def stack_factory(image: str, tmp_path: Path) -> Iterator[Any]:
    """Make compose stacks; every one is taken down with its volumes, even when a test fails."""
    stacks: list[Stack] = []

    def make(**kwargs: Any) -> Stack:
        stack = Stack(image, tmp_path / f"stack{len(stacks)}", **kwargs)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.down(volumes=True)


@pytest.fixture
def container_factory(image: str) -> Iterator[Any]:
    """Make standalone containers and named volumes; all removed at the end of the test."""
    containers: list[Container] = []
    volumes: list[str] = []

    def make(*run_args: str, env: dict[str, str] | None = None) -> Container:
        c = Container(image, *run_args, env=env)
        containers.append(c)
        return c

    def volume() -> str:
        name = f"cstp-test-{uuid.uuid4().hex[:10]}"
        ok(docker("volume", "create", name))
        volumes.append(name)
        return name

    make.volume = volume  # type: ignore[attr-defined]
    yield make
    for c in containers:
        c.remove()
    for name in volumes:
        docker("volume", "rm", "-f", name)
