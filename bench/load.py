"""Load generation: a small asyncio client (default) or `wrk`, both run as a child process.

The machine has two cores, shared by the server and the client, so the client must cost little CPU
per request. `wrk` (C, epoll, one thread here) costs ~25 µs per request, the asyncio client
(`bench.pyload`, raw keep-alive sockets, uvloop) ~50 µs. The asyncio client is the default because
its percentiles are exact and consistent: wrk's latency histogram broke Little's law on
sub-millisecond runs here (mean latency × requests/s up to 8× the number of connections), see
docs/PERFORMANCE.md. Each run reports the client's own CPU time per request (from
`getrusage(RUSAGE_CHILDREN)` around the child), the server's (from /proc/<pid>/stat) and the
Little's-law ratio, so the overhead and the consistency are measured, not assumed.

Both clients send a list of pre-built JSON-RPC bodies in turn over keep-alive connections, one
request at a time per connection (closed loop): concurrency = connections. A reply counts as an
error unless it is HTTP 200 with a JSON-RPC `result` (so a failing method cannot look fast).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import HOST, cpu_seconds

WRK_LUA = r"""
-- args: file with one JSON body per line, "error" when a JSON-RPC error is the expected reply;
-- the bearer token comes from $BENCH_TOKEN (a token may start with "-", and argv is visible in ps)
local reqs = {}
local expect_error = false
local idx = 0
errors = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local auth = "Bearer " .. os.getenv("BENCH_TOKEN")
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = auth}
  for line in io.lines(args[1]) do
    if #line > 0 then reqs[#reqs + 1] = wrk.format("POST", "/cstp", headers, line) end
  end
  idx = 0
  expect_error = args[2] == "error"
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end

function response(status, headers, body)
  -- JSON-RPC: an error reply names "error" near the start, a success names "result".
  local is_error = string.find(string.sub(body, 1, 80), '"error"', 1, true) ~= nil
  if status ~= 200 or is_error ~= expect_error then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local rpc_errors = 0
  for _, t in ipairs(threads) do rpc_errors = rpc_errors + (t:get("errors") or 0) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"socket_errors":%d,"timeouts":%d,"rpc_errors":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write, e.timeout, rpc_errors,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class Run:
    """One closed-loop load run."""

    client: str
    concurrency: int
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    client_cpu_us: float  # client CPU per request
    server_cpu_ms: float  # server CPU (all watched pids) per request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def littles_law(self) -> float:
        """mean latency × throughput ÷ connections: 1.0 for a consistent closed-loop run.

        Each connection has one request in flight at a time, so the latencies of one connection
        cannot add up to more than the run's duration; a ratio well above 1 means the client's
        latency figures are not to be trusted.
        """
        return self.mean_ms / 1000 * self.rps / self.concurrency if self.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}
        d["rps"] = round(self.rps, 1)
        d["littles_law"] = round(self.littles_law, 2)
        return d


def ensure_wrk(allow_install: bool) -> str | None:
    """Path of `wrk`, installing Debian's package when allowed and possible; None otherwise."""
    found = shutil.which("wrk")
    if found or not allow_install:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("bench: wrk not found; installing Debian's wrk package ...", file=sys.stderr)
        try:
            subprocess.run(
                ["apt-get", "install", "-y", "--no-install-recommends", "wrk"],
                capture_output=True,
                timeout=180,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None
    return shutil.which("wrk")


class LoadClient:
    """Runs load against one server; `kind` is "wrk" or "python"."""

    def __init__(self, kind: str, wrk_path: str | None, workdir: Path) -> None:
        self.kind = kind
        self.wrk_path = wrk_path
        self.workdir = workdir
        self._lua = workdir / "bench.lua"
        self._lua.write_text(WRK_LUA)
        self._files: dict[int, Path] = {}

    def _bodies_file(self, bodies: list[str]) -> Path:
        key = hash(tuple(bodies))
        if key not in self._files:
            fd, name = tempfile.mkstemp(prefix="bodies-", suffix=".jsonl", dir=self.workdir)
            with open(fd, "w") as f:
                f.write("\n".join(bodies) + "\n")
            self._files[key] = Path(name)
        return self._files[key]

    def run(
        self,
        port: int,
        token: str,
        bodies: list[str],
        concurrency: int,
        seconds: float,
        watch_pids: tuple[int, ...] = (),
        kind: str | None = None,
        expect_error: bool = False,
        mcp: bool = False,
    ) -> Run:
        """`mcp`: the bodies are MCP tools/call requests for POST /mcp (the asyncio client only)."""
        kind = "python" if mcp else (kind or self.kind)
        path = self._bodies_file(bodies)
        url = f"http://{HOST}:{port}"
        if kind == "wrk":
            assert self.wrk_path is not None
            argv = [
                self.wrk_path,
                "-t1",
                f"-c{concurrency}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "60s",
                "-s",
                str(self._lua),
                url,
                "--",
                str(path),
                "error" if expect_error else "result",
            ]
        else:
            argv = [
                sys.executable,
                "-m",
                "bench.pyload",
                "--url",
                url,
                "--bodies",
                str(path),
                "--concurrency",
                str(concurrency),
                "--seconds",
                str(seconds),
                *(["--expect-error"] if expect_error else []),
                *(["--path", "/mcp", "--mcp"] if mcp else []),
            ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_before = sum(cpu_seconds(p) for p in watch_pids)
        env = {**os.environ, "BENCH_TOKEN": token}
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=seconds + 120, check=False
        )
        server_cpu = sum(cpu_seconds(p) for p in watch_pids) - server_before
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(
                f"{kind} failed ({done.returncode}): {done.stderr.strip() or done.stdout[-500:]}"
            )
        r = json.loads(line.removeprefix("WRKJSON "))
        n = max(1, r["requests"])
        return Run(
            client=kind,
            concurrency=concurrency,
            requests=r["requests"],
            seconds=r["duration_us"] / 1e6,
            errors=r["socket_errors"] + r["timeouts"] + r["rpc_errors"],
            p50_ms=r["p50_us"] / 1000,
            p95_ms=r["p95_us"] / 1000,
            p99_ms=r["p99_us"] / 1000,
            mean_ms=r["mean_us"] / 1000,
            max_ms=r["max_us"] / 1000,
            client_cpu_us=client_cpu / n * 1e6,
            server_cpu_ms=server_cpu / n * 1e3,
        )
