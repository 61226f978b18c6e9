"""The shared state of one benchmark run: configuration, processes, load client and results."""

from __future__ import annotations

import hashlib
import os
import platform
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import datagen
from bench.load import LoadClient, Run
from bench.procs import ROOT, Proc, Registry, cpu_seconds, rpc


def source_state() -> dict[str, Any]:
    """The commit and a fingerprint of uncommitted changes under src/ (what the servers run)."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
            return out.stdout.strip()
        except OSError:
            return ""

    diff = git("diff", "HEAD", "--", "src")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(diff),
        "diff_sha": hashlib.sha256(diff.encode()).hexdigest()[:12],
    }


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} ms"


@dataclass(frozen=True)
class Config:
    """How much to measure. `quick` stays under 3 minutes, `full` under 30 (see docs/PERFORMANCE.md)."""

    mode: str
    sizes: tuple[int, ...]
    stores: tuple[str, ...]
    run_s: int  # seconds per measured load run
    floor_s: int  # seconds per HTTP-floor run
    warmup_s: int  # seconds of load before the measured runs of one server
    floor_iterations: int  # in-process floor calls per figure
    docker_repeats: int
    validate_bodies: int  # bodies of each kind sent once, one at a time, before a server's runs
    record_floor_docs: int  # documents embedded in batches for the recordDecision ceiling
    concurrencies: tuple[int, ...] = (1, 16)
    guardrail_rules: tuple[int, ...] = (10, 200)
    record_store: str = "embedded"
    record_size: int = 10_000

    @classmethod
    def for_mode(cls, mode: str) -> Config:
        if mode == "quick":
            return cls(
                mode,
                (1_000, 10_000),
                ("embedded", "server"),
                run_s=2,
                floor_s=1,
                warmup_s=0,
                floor_iterations=40,
                docker_repeats=2,
                validate_bodies=4,
                record_floor_docs=64,
            )
        return cls(
            mode,
            (1_000, 10_000, 100_000),
            ("embedded", "server"),
            run_s=8,
            floor_s=5,
            warmup_s=2,
            floor_iterations=300,
            docker_repeats=3,
            validate_bodies=64,
            record_floor_docs=256,
        )


@dataclass
class Harness:
    config: Config
    workdir: Path
    client: LoadClient
    registry: Registry = field(default_factory=Registry)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    results: list[dict[str, Any]] = field(default_factory=list)
    floors: dict[str, Any] = field(default_factory=dict)
    memory: list[dict[str, Any]] = field(default_factory=list)
    servers: list[dict[str, Any]] = field(default_factory=list)
    loads: list[dict[str, Any]] = field(default_factory=list)
    docker: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    source: dict[str, Any] = field(default_factory=lambda: source_state())

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def validate(self, server: Proc, method: str, params: list[dict[str, Any]], k: int | None = None) -> None:
        """Send the first `k` bodies (default: the mode's) once, one at a time; fail on any error.

        Also the warm-up (the first hybrid query builds the BM25 index). Bounded: after 4 bodies it
        stops once 20 s have passed.
        """
        deadline = time.perf_counter() + 20
        for i, p in enumerate(params[: k or self.config.validate_bodies]):
            rpc(server.port, self.token, method, p, timeout=600)
            if i >= 3 and time.perf_counter() > deadline:
                break

    def measure(
        self,
        server: Proc,
        bodies: list[str],
        concurrency: int,
        seconds: int,
        watch: tuple[int, ...] = (),
        kind: str | None = None,
        expect_error: bool = False,
        mcp: bool = False,
    ) -> Run:
        run = self.client.run(
            server.port,
            self.token,
            bodies,
            concurrency,
            seconds,
            (server.pid, *watch),
            kind,
            expect_error,
            mcp,
        )
        if concurrency > 1:
            self.drain(server, watch)
        return run

    def drain(self, server: Proc, watch: tuple[int, ...] = (), limit_s: float = 90.0) -> float:
        """Wait until the server is idle (under 10% of a core for 0.1 s); returns seconds waited.

        A closed-loop run ends with up to `concurrency` requests still in the server; slow ones
        (a filtered query at 100k takes seconds) would otherwise be measured as part of the next run.
        """
        pids = (server.pid, *watch)
        started = time.perf_counter()
        while time.perf_counter() - started < limit_s:
            before = sum(cpu_seconds(p) for p in pids)
            time.sleep(0.1)
            if sum(cpu_seconds(p) for p in pids) - before < 0.01:
                break
        return time.perf_counter() - started

    def add(self, row: dict[str, Any]) -> dict[str, Any]:
        # Other work on the machine shows up in the figures; keep the 1-minute load with each row.
        row["loadavg_1m"] = round(os.getloadavg()[0], 2)
        self.results.append(row)
        ratio = f" ×{row['ratio_p50']:.2f} floor" if row.get("ratio_p50") else ""
        if row.get("littles_law", 1.0) > 1.15:
            self.notes.append(
                f"{row['scenario']} {row.get('store') or ''} N={row.get('size')} c={row['concurrency']}: "
                f"latencies inconsistent with throughput (mean × req/s ÷ c = {row['littles_law']}, "
                f"client {row['client']})"
            )
        if not row["requests"]:
            self.notes.append(
                f"{row['scenario']} {row.get('store') or ''} N={row.get('size')} c={row['concurrency']}: no "
                f"request completed within the {self.config.run_s} s run (each takes longer than that)"
            )
        self.log(
            f"{row['scenario']:<34} {row.get('store') or '':<9} N={row.get('size') or '':<7} "
            f"c={row['concurrency']:<3} {row['rps']:>8.1f} req/s  p50 {_ms(row['p50_ms'])}  "
            f"p99 {_ms(row['p99_ms'])}{ratio}  err={row['errors']}"
        )
        return row

    def meta(self) -> dict[str, Any]:
        from cstp import __version__

        end = source_state()
        return {
            "mode": self.config.mode,
            "config": {k: v for k, v in self.config.__dict__.items()},
            "cstp_version": __version__,
            "git_commit": self.source["commit"],
            "git_dirty": self.source["dirty"],
            # Servers run from the working tree: a commit or edit during the run changes what is measured.
            "source_changed_during_run": end != self.source,
            "git_commit_at_end": end["commit"],
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
            "client": self.client.kind,
            "generator": {"seed": datagen.SEED, "version": datagen.GENERATOR_VERSION},
            "duration_s": round(time.perf_counter() - self.started, 1),
        }
