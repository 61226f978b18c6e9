"""Three real `cstp-server` processes on one real Chroma server, behind HAProxy (Debian's package,
with the repository's docker/haproxy/haproxy.cfg), under concurrent writers for a bounded time:

1. a rolling restart: one replica gets SIGTERM (it drains: `/ready` 503 while still serving, so
   HAProxy takes it out of rotation before its listener closes), exits, and starts again;
2. a crash: another replica is `kill -9`ed and started again.

Then: no acknowledged write is lost (each is read back by id through the balancer, with the text
it was written with), all acknowledged ids are distinct, no 5xx came from the balancer during the
rolling restart, and the only failures at all (a 502, or a client connection closed without an
answer) were requests in flight at the kill: the ones the killed process held, which HAProxy
never resends since a POST may have been processed. Nothing asserts timings.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cstp.client.http import refused_as_busy
from tests.balancer import Balancer, require_haproxy
from tests.serverproc import ServerProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TOKEN = "balancer-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRITERS = 6


@dataclass(frozen=True, slots=True)
class Outcome:
    start: float
    end: float
    status: int | None  # None: the client saw no HTTP answer at all
    text: str
    rid: str | None = None  # the acknowledged id
    error: str = ""


class Replicas:
    """Three server processes on fixed ports, restartable on the same port."""

    def __init__(self, tmp_path: Path, chroma_url: str) -> None:
        self.tmp = tmp_path
        self.prefix = f"lb{uuid.uuid4().hex[:8]}"
        self.chroma_url = chroma_url
        self.ports = [free_port() for _ in range(3)]
        self.procs: list[ServerProcess] = []
        self.starts = 0
        for i in range(3):
            self.procs.append(self.start(i))

    def start(self, i: int) -> ServerProcess:
        self.starts += 1
        home = self.tmp / f"replica{i + 1}-{self.starts}"
        home.mkdir(parents=True)
        env = {
            "CSTP_DATA_DIR": str(home / "data"),
            "CSTP_AUTH_TOKENS": f"writer:{TOKEN}",
            "GUARDRAILS_WATCH": "false",
            "CHROMA_URL": self.chroma_url,
            "CHROMA_COLLECTION_PREFIX": self.prefix,
        }
        return ServerProcess(env, port=self.ports[i])

    def restart(self, i: int) -> None:
        self.procs[i].stop()
        self.procs[i] = self.start(i)
        self.procs[i].wait_ready()

    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.ports]

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def writer(url: str, n: int, stop: threading.Event, out: list[Outcome], finished: list[int]) -> None:
    """Writes until `stop`, recording every request; `finished` gets `n` if it never crashed."""
    with httpx.Client(base_url=url, headers=AUTH, timeout=60) as client:
        k = 0
        while not stop.is_set():
            k += 1
            text = f"Writer {n} decision {k}: route shard {k % 11} through the gateway"
            body = {
                "jsonrpc": "2.0",
                "id": k,
                "method": "cstp.recordDecision",
                "params": {"decision": text, "confidence": 0.7, "category": "architecture"},
            }
            start = time.monotonic()
            try:
                r = client.post("/cstp", json=body)
            except httpx.HTTPError as e:
                out.append(Outcome(start, time.monotonic(), None, text, error=repr(e)))
                continue
            end = time.monotonic()
            rid = None
            if r.status_code == 200:
                reply = r.json()
                if refused_as_busy(reply):  # nothing stored: sent again after the hint, as a client does
                    time.sleep(min(2.0, reply["error"]["data"]["retryAfterMs"] / 1000))
                    continue
                result = reply.get("result") or {}
                rid = result.get("id") if result.get("success") else None
            out.append(Outcome(start, end, r.status_code, text, rid, "" if rid else r.text[:300]))
    finished.append(n)


def test_rolling_restart_and_a_crash_behind_haproxy_lose_no_acknowledged_write(
    tmp_path: Path, chroma_server_url: str
) -> None:
    require_haproxy()
    replicas = Replicas(tmp_path, chroma_server_url)
    try:
        for proc in replicas.procs:
            proc.wait_ready()
        with Balancer(tmp_path / "haproxy", replicas.addresses()) as lb:
            for name in ("cstp-1", "cstp-2", "cstp-3"):
                lb.wait_status(name, "UP")
            run(lb, replicas)
    finally:
        replicas.stop()


def run(lb: Balancer, replicas: Replicas) -> None:
    stop = threading.Event()
    outcomes: list[list[Outcome]] = [[] for _ in range(WRITERS)]
    finished: list[int] = []
    threads = [
        threading.Thread(target=writer, args=(lb.url, n, stop, outcomes[n], finished), daemon=True)
        for n in range(WRITERS)
    ]
    for t in threads:
        t.start()
    try:
        time.sleep(2)

        # 1. Rolling restart of cstp-1: SIGTERM, HAProxy sees it DOWN while it still runs.
        term = time.monotonic()
        replicas.procs[0].signal(signal.SIGTERM)
        lb.wait_status("cstp-1", "DOWN")
        down_before_exit = replicas.procs[0].proc.poll() is None
        assert replicas.procs[0].wait(60) == 0, replicas.procs[0].output()
        term_log = replicas.procs[0].output()
        replicas.restart(0)
        lb.wait_status("cstp-1", "UP")
        time.sleep(1)

        # 2. Crash of cstp-2: kill -9 under load, then start it again.
        kill = time.monotonic()
        replicas.procs[1].signal(signal.SIGKILL)
        replicas.procs[1].wait(30)
        dead = time.monotonic()
        replicas.restart(1)
        lb.wait_status("cstp-2", "UP")
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(90)
    everything = [o for per_writer in outcomes for o in per_writer]
    assert sorted(finished) == list(range(WRITERS)), "every writer ran to the end"

    assert down_before_exit, "HAProxy must see the draining replica DOWN before its listener closes"
    assert "draining" in term_log
    # No 5xx during the rolling restart; after the kill, only requests in flight at it.
    failed = [o for o in everything if o.status != 200 or o.rid is None]
    # (A request that was still running at the kill is judged by the kill's rule below.)
    during_term = [o for o in failed if o.end >= term and o.end < kill]
    assert during_term == [], during_term[:5]  # neither a 5xx nor a closed connection
    in_flight_at_kill = [o for o in everything if o.start <= dead and o.end >= kill]
    held = [o for o in failed if o.start <= dead and o.end >= kill]
    assert set(map(id, failed)) == set(map(id, held)), [o for o in failed if o not in held][:5]
    # HAProxy answers 502, or (when the request came on a kept-alive client connection) closes
    # that connection without an answer, as a server would; neither is an acknowledgement.
    assert all(o.status is None or o.status >= 500 for o in held), held[:5]
    assert len(held) <= min(len(in_flight_at_kill), WRITERS)
    sys.stdout.write(  # the figures, for `pytest -s`
        f"\n{len(everything)} writes; rolling restart: 0 failed; kill -9: {len(held)} failed "
        f"({sum(o.status is None for o in held)} closed without an answer), all in flight at the "
        f"kill ({len(in_flight_at_kill)} requests were, on all replicas)\n"
    )

    # Every acknowledged write: a distinct id, readable through the balancer with its own text.
    acknowledged = [o for o in everything if o.rid is not None]
    assert len(acknowledged) > 50, "the writers made progress"
    ids = [o.rid for o in acknowledged]
    assert len(set(ids)) == len(ids), "acknowledged ids are distinct"
    with httpx.Client(base_url=lb.url, headers=AUTH, timeout=60) as client:
        for o in acknowledged:
            body = {"jsonrpc": "2.0", "id": 1, "method": "cstp.getDecision", "params": {"id": o.rid}}
            reply: dict[str, Any] = client.post("/cstp", json=body).json()
            assert reply["result"]["found"] is True, (o, reply)
            assert reply["result"]["decision"]["decision"] == o.text, (o, reply)

    # Every replica served writes, the restarted ones included.
    for proc in replicas.procs:
        assert "cstp.recordDecision" in proc.output(), proc.output()[-2000:]
