"""Processes the benchmark starts: cstp servers, Chroma servers, load clients, containers.

Every process is registered in `Registry` when it starts and removed when it stops; `stop_all()`
runs on normal exit, on exceptions and on SIGINT/SIGTERM (see `bench.__main__`), so nothing the
bench started outlives it. Only processes started here are ever signalled, by their own pid.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
QUIET_ENV = {"ORT_DISABLE_TELEMETRY": "1", "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"}
# Settings the parent shell might carry that would change what the server does.
_SCRUB = ("CSTP_", "CHROMA_", "GUARDRAILS_", "EMBEDDING_", "GEMINI_", "LOG_LEVEL")


def clean_env(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The parent environment without cstp settings, plus telemetry off, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env.update(QUIET_ENV)
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """(status, body) of a GET; status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


def rpc(port: int, token: str, method: str, params: dict[str, Any], timeout: float = 60.0) -> Any:
    """One JSON-RPC call; returns `result` or raises RuntimeError with the error object."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(
        f"http://{HOST}:{port}/cstp",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        reply = json.loads(r.read())
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def rss_mb(pid: int) -> float | None:
    """VmRSS of `pid` in MiB (from /proc/<pid>/status), None when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads) in seconds, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Registry:
    """Every process and container this run started, to be stopped whatever happens."""

    def __init__(self) -> None:
        self.procs: list[Proc] = []
        self.containers: list[str] = []
        self.docker_env: dict[str, str] | None = None

    def start(self, name: str, argv: list[str], env: Mapping[str, str], log: Path, port: int = 0) -> Proc:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            # Own session: a Ctrl-C in the terminal reaches the bench, which stops children in order.
            popen = subprocess.Popen(
                argv, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
            )
        proc = Proc(name, popen, log, port)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 15.0) -> float:
        """SIGTERM, wait, SIGKILL after `timeout`; returns seconds to exit."""
        started = time.perf_counter()
        if proc.alive():
            try:
                proc.popen.send_signal(signal.SIGTERM)
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(5)
        if proc in self.procs:
            self.procs.remove(proc)
        return time.perf_counter() - started

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            try:
                self.stop(proc, timeout=10.0)
            except Exception as e:  # noqa: BLE001 - keep stopping the others
                print(f"bench: could not stop {proc.name} (pid {proc.pid}): {e}", file=sys.stderr)
        for cid in list(self.containers):
            subprocess.run(
                ["docker", "rm", "-f", cid], env=self.docker_env, capture_output=True, timeout=60, check=False
            )
            self.containers.remove(cid)


def wait_http(proc: Proc, url: str, timeout: float) -> float:
    """Poll `url` until 200; returns seconds waited. Raises RuntimeError with the log tail."""
    started = time.perf_counter()
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        status, _ = http_get(url, timeout=5.0)
        if status == 200:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} not ready after {timeout:.0f}s:\n{proc.log_tail()}")


def start_chroma(reg: Registry, path: Path, logs: Path) -> Proc:
    port = free_port()
    argv = [str(VENV_BIN / "chroma"), "run", "--host", HOST, "--port", str(port), "--path", str(path)]
    proc = reg.start("chroma", argv, clean_env(), logs / f"chroma-{port}.log", port)
    proc.info["ready_s"] = wait_http(proc, f"http://{HOST}:{port}/api/v2/heartbeat", 60)
    return proc


def start_cstp(
    reg: Registry,
    name: str,
    *,
    token: str,
    logs: Path,
    data_dir: Path,
    chroma_url: str | None = None,
    prefix: str = "cstp",
    guardrails: Path | None = None,
    ready_timeout: float = 600.0,
    log_level: str = "WARNING",
    extra_env: Mapping[str, str] | None = None,
) -> Proc:
    """Start `cstp-server` on a free port and wait for /ready 200 (start time in info)."""
    port = free_port()
    env = {
        "CSTP_HOST": HOST,
        "CSTP_PORT": str(port),
        "CSTP_DATA_DIR": str(data_dir),
        "CSTP_AUTH_TOKENS": f"bench:{token}",
        "CHROMA_COLLECTION_PREFIX": prefix,
        "GUARDRAILS_WATCH": "false",
        "LOG_LEVEL": log_level,
    }
    if chroma_url:
        env["CHROMA_URL"] = chroma_url
    if guardrails is not None:
        env["GUARDRAILS_PATHS"] = str(guardrails)
    env.update(extra_env or {})
    argv = [str(VENV_BIN / "cstp-server")]
    proc = reg.start(name, argv, clean_env(env), logs / f"cstp-{name}-{port}.log", port)
    proc.info["ready_s"] = wait_http(proc, f"http://{HOST}:{port}/ready", ready_timeout)
    proc.info["rss_ready_mb"] = rss_mb(proc.pid)
    return proc
