"""The scale profile (docker-compose.scale.yml) on a real engine: three replicas behind HAProxy on
one ChromaDB server, all healthy; a write through the balancer is readable through it and on every
replica; one replica stopped under traffic and every request still answered."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.conftest import (
    AUTH,
    REPO,
    Stack,
    docker,
    free_port,
    inspect,
    ok,
    record,
    rpc,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1200)]

SCALE_FILE = REPO / "docker-compose.scale.yml"
SCALE_TEST = Path(__file__).resolve().parent / "compose.scale.test.yml"
SERVICES = ("chromadb", "cstp-1", "cstp-2", "cstp-3", "haproxy")


def scale_stack(stack_factory: Any) -> tuple[Stack, list[int]]:
    s: Stack = stack_factory(extra_files=(SCALE_FILE, SCALE_TEST))
    taken = {s.port, s.chroma_port}
    replicas: list[int] = []
    while len(replicas) < 3:
        port = free_port()
        if port not in taken:
            taken.add(port)
            replicas.append(port)
    s.env.update(
        COMPOSE_PROFILES="scale",
        CSTP_PUBLISH_ADDRESS="127.0.0.1",
        CSTP_PORT=str(s.port),
        CSTP_CHROMA_PORT=str(s.chroma_port),
        **{f"CSTP_REPLICA_PORT_{i}": str(p) for i, p in enumerate(replicas, start=1)},
    )
    return s, replicas


def get(url: str, rid: str) -> dict[str, Any]:
    result: dict[str, Any] = rpc(url, "cstp.getDecision", {"id": rid})
    return result


def test_scale_profile_serves_through_haproxy_and_survives_a_stopped_replica(stack_factory: Any) -> None:
    s, replicas = scale_stack(stack_factory)
    s.up()
    services = ok(s.compose("ps", "--format", "{{.Service}}")).split()
    assert sorted(services) == sorted(SERVICES), services  # the single cstp-server stays off
    for service in SERVICES:
        assert inspect(s.container(service))["State"]["Health"]["Status"] == "healthy", s.logs()
    networks = docker("network", "ls", "-q", "--filter", f"label=com.docker.compose.project={s.project}")
    assert ok(networks).strip() == ""  # host networking only

    # A write through the balancer: readable through it and on each replica directly.
    rid = record(s.url, "Put three cstp replicas behind HAProxy on one Chroma server")
    assert get(s.url, rid)["found"] is True
    for port in replicas:
        assert get(f"http://127.0.0.1:{port}", rid)["found"] is True

    # Stop one replica (SIGTERM: it drains) while a client keeps writing through the balancer.
    stop = threading.Event()
    answers: list[tuple[int, str | None]] = []

    def write() -> None:
        with httpx.Client(base_url=s.url, headers=AUTH, timeout=60) as client:
            k = 0
            while not stop.is_set():
                k += 1
                body = {
                    "jsonrpc": "2.0",
                    "id": k,
                    "method": "cstp.recordDecision",
                    "params": {"decision": f"Written while a replica stops, number {k}"},
                }
                try:
                    r = client.post("/cstp", json=body)
                except httpx.HTTPError as e:  # no answer at all: a failure the assertions report
                    answers.append((0, repr(e)))
                    continue
                result = r.json().get("result", {}) if r.status_code == 200 else {}
                answers.append((r.status_code, result.get("id")))

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        ok(s.compose("stop", "cstp-2", timeout=120))
    finally:
        # Traffic continues on the remaining replicas after the stop, too.
        count = len(answers)
        while len(answers) < count + 10 and writer.is_alive():
            threading.Event().wait(0.1)
        stop.set()
        writer.join(60)
    assert not writer.is_alive() and len(answers) >= count + 10, "the writer kept going to the end"
    assert inspect(s.container("cstp-2"))["State"]["ExitCode"] == 0, s.logs()
    assert answers and all(status == 200 and rid for status, rid in answers), answers
    for _, written in answers:
        assert written is not None and get(s.url, written)["found"] is True
