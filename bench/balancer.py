"""`python -m bench.balancer`: checkGuardrails and queryDecisions through HAProxy, 1 vs 3 replicas.

A one-off measurement for docs/SCALING.md, not part of `python -m bench`: one Chroma server, three
`cstp-server` replicas (200 guardrail rules loaded, a few hundred decisions stored), Debian's
`haproxy` with docker/haproxy/haproxy.cfg in front. Each method runs at concurrency 16 directly
against one replica (no balancer), through HAProxy with only that replica up, and through HAProxy
with all three. On a machine with fewer cores than replicas the 3-replica figure measures the
CPU, not the design: the table says how many cores there were.

    python -m bench.balancer [--seconds 10] [--decisions 300]
"""

from __future__ import annotations

import os

os.environ.update({"ORT_DISABLE_TELEMETRY": "1", "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"})

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

from bench import datagen  # noqa: E402
from bench.load import LoadClient, Run  # noqa: E402
from bench.procs import HOST, Proc, Registry, free_port, rpc, start_chroma, start_cstp  # noqa: E402
from cstp.domain.guardrails import load_rules  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "docker" / "haproxy" / "haproxy.cfg"
TOKEN = "bench-balancer-token-0123456789"
RULES = 200
CONCURRENCY = 16


def _haproxy(reg: Registry, logs: Path, replicas: list[str]) -> Proc:
    exe = shutil.which("haproxy")
    if exe is None:
        raise SystemExit("bench.balancer: haproxy is not installed (apt-get install -y haproxy)")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CSTP_PUBLISH_ADDRESS": HOST,
        "CSTP_PORT": str(port),
        **{f"CSTP_REPLICA_{i}": a for i, a in enumerate(replicas, start=1)},
    }
    proc = reg.start("haproxy", [exe, "-db", "-f", str(CONFIG)], env, logs / f"haproxy-{port}.log", port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # /ready through it: at least one replica is UP
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/ready", timeout=2) as r:
                if r.status == 200:
                    time.sleep(3)  # every configured replica passes its `rise 2` checks
                    return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"bench.balancer: haproxy not ready:\n{proc.log_tail()}")


def _rules(workdir: Path) -> Path:
    packaged = len(load_rules([]))
    rules_dir = workdir / "guardrails"
    rules_dir.mkdir(parents=True, exist_ok=True)
    generated = datagen.guardrail_rules(max(0, RULES - packaged))
    (rules_dir / "bench.yaml").write_text(yaml.safe_dump(generated, sort_keys=False))
    return rules_dir


def _preload(port: int, n: int) -> None:
    for params in datagen.record_params(n):
        reply = rpc(port, TOKEN, "cstp.recordDecision", params)
        assert reply.get("success") is True, reply


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.balancer", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--decisions", type=int, default=300)
    args = p.parse_args()
    reg = Registry()
    workdir = Path(tempfile.mkdtemp(prefix="cstp-bench-lb-"))
    logs = workdir / "logs"
    try:
        chroma = start_chroma(reg, workdir / "chroma", logs)
        chroma_url = f"http://{HOST}:{chroma.port}"
        rules = _rules(workdir)
        replicas = [
            start_cstp(
                reg,
                f"replica{i}",
                token=TOKEN,
                logs=logs,
                data_dir=workdir / f"data{i}",
                chroma_url=chroma_url,
                prefix="lb",
                guardrails=rules,
            )
            for i in (1, 2, 3)
        ]
        _preload(replicas[0].port, args.decisions)
        client = LoadClient("python", None, workdir)
        workloads = {
            f"checkGuardrails ({RULES} rules)": [
                datagen.rpc_body("cstp.checkGuardrails", a, i)
                for i, a in enumerate(datagen.guardrail_actions())
            ],
            "queryDecisions (semantic, limit 5)": [
                datagen.rpc_body("cstp.queryDecisions", {"query": q, "limit": 5}, i)
                for i, q in enumerate(datagen.QUERIES)
            ],
        }
        pids = tuple(r.pid for r in replicas)
        dead = [f"{HOST}:{free_port()}", f"{HOST}:{free_port()}"]  # never listening: DOWN at once
        results: list[tuple[str, str, Run]] = []
        load_before = os.getloadavg()[0]  # the machine's other work shows in the figures
        for name, bodies in workloads.items():
            client.run(replicas[0].port, TOKEN, bodies, CONCURRENCY, 2)  # warm-up
            run = client.run(replicas[0].port, TOKEN, bodies, CONCURRENCY, args.seconds, watch_pids=pids)
            results.append((name, "1 replica, direct", run))
        one = _haproxy(reg, logs, [f"{HOST}:{replicas[0].port}", *dead])
        for name, bodies in workloads.items():
            run = client.run(one.port, TOKEN, bodies, CONCURRENCY, args.seconds, watch_pids=pids)
            results.append((name, "1 replica behind HAProxy", run))
        reg.stop(one)
        three = _haproxy(reg, logs, [f"{HOST}:{r.port}" for r in replicas])
        for name, bodies in workloads.items():
            run = client.run(three.port, TOKEN, bodies, CONCURRENCY, args.seconds, watch_pids=pids)
            results.append((name, "3 replicas behind HAProxy", run))
        cores = os.cpu_count()
        load = f"load average {load_before:.1f} before the runs, {os.getloadavg()[0]:.1f} after"
        setup = f"{load}, concurrency {CONCURRENCY}, {args.seconds:g} s per run, {args.decisions} decisions"
        print(f"\n{cores} cores, {setup}\n")
        print("| method | layout | req/s | p50 ms | p99 ms | errors | server CPU ms/req |")
        print("|---|---|---|---|---|---|---|")
        for name, layout, run in results:
            figures = f"{run.rps:,.0f} | {run.p50_ms:.2f} | {run.p99_ms:.2f} | {run.errors}"
            print(f"| {name} | {layout} | {figures} | {run.server_cpu_ms:.2f} |")
        print("\n" + json.dumps([{"method": n, "layout": lay, **r.as_dict()} for n, lay, r in results]))
    finally:
        reg.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
