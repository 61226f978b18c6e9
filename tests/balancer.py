"""Run Debian's `haproxy` in the foreground on 127.0.0.1 with the repository's configuration.

    with Balancer(tmp_path, replicas=["127.0.0.1:8101", ...]) as lb:
        lb.wait_status("cstp-1", "UP")
        httpx.post(f"{lb.url}/cstp", ...)

The configuration is docker/haproxy/haproxy.cfg itself (the one the compose profile mounts), with
its addresses from the environment; the fixture adds a second file, written to the test's
directory, with a stats listener on another loopback port so a test can see which replicas HAProxy
counts as UP. Tests using it skip when `haproxy` is not installed, and fail instead under
CSTP_REQUIRE_HAPROXY=1 (set by .ci/run, which installs it) or CI.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.serverproc import free_port

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "docker" / "haproxy" / "haproxy.cfg"
STATS = """\
listen stats
    bind 127.0.0.1:{port}
    stats enable
    stats uri /stats
"""


def require_haproxy() -> str:
    """The haproxy executable, or skip (fail when the balancer tests are required)."""
    exe = shutil.which("haproxy")
    if exe is None:
        reason = "haproxy is not installed (apt-get install -y haproxy)"
        if os.environ.get("CI") or os.environ.get("CSTP_REQUIRE_HAPROXY") == "1":
            pytest.fail(f"the load balancer tests are required here: {reason}", pytrace=False)
        pytest.skip(reason)
    return exe


class Balancer:
    """An `haproxy -db` process in front of three replicas (host:port each)."""

    def __init__(self, directory: Path, replicas: list[str]) -> None:
        assert len(replicas) == 3, "docker/haproxy/haproxy.cfg names three replicas"
        exe = require_haproxy()
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.stats_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        stats = directory / "stats.cfg"
        stats.write_text(STATS.format(port=self.stats_port))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CSTP_PUBLISH_ADDRESS": "127.0.0.1",
            "CSTP_PORT": str(self.port),
            **{f"CSTP_REPLICA_{i}": address for i, address in enumerate(replicas, start=1)},
        }
        self.log = directory / "haproxy.log"
        self._log_fh = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [exe, "-db", "-f", str(CONFIG), "-f", str(stats)],
            env=env,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def statuses(self) -> dict[str, str]:
        """HAProxy's view of each replica: UP, DOWN, "UP 1/2" (going down), "DOWN 1/2" (coming up)."""
        r = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5)
        r.raise_for_status()
        rows = csv.DictReader(io.StringIO(r.text.lstrip("# ")))
        return {row["svname"]: row["status"] for row in rows if row["pxname"] == "replicas"}

    def wait_status(self, server: str, status: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"haproxy exited {self.proc.returncode}:\n{self.output()}")
            try:
                last = self.statuses().get(server)
            except httpx.HTTPError as e:
                last = e
            if last == status:
                return
            time.sleep(0.05)
        tail = self.output()[-3000:]
        raise AssertionError(f"{server} not {status} in {timeout}s (last: {last!r}):\n{tail}")

    def output(self) -> str:
        self._log_fh.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log_fh.close()

    def __enter__(self) -> Balancer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
