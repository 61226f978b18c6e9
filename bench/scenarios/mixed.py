"""Mixed load: 32 clients at once, recording decisions and querying in every mode.

The other scenarios measure one call kind at a time. Under a mix, a query can wait behind work it
does not need: the keyword index rebuilt after writes (keyword and hybrid p99 reached 6.4 s and
5.7 s against medians of 200-280 ms before the rebuild moved off the query path), or a write batch.
Here each client sends, in turn, a recordDecision and the four queryDecisions modes (semantic,
keyword, hybrid, list), over its own keep-alive connection, for `seconds`. The figures are per call
kind; the targets (bench/report.py): every query mode's p99 ≤ 4 × its p50, and no request over 2 s.
A recordDecision the server refuses under admission control (CSTP_WRITE_MAX_WAIT: "Server busy",
`data.component` "writes") is its own kind, `recordDecision refused`: counted and timed apart from
the accepted ones, never as an error (nothing was stored). The client then does what an agent
that must keep its decision does: it waits `data.retryAfterMs` (at most 2 s) and sends the same
record again, before going on; `recordDecision end to end` is each accepted record's time from its
first attempt, waits included (what the agent waited; not a request, so not under the target).
Before the clock starts, one request of each kind warms the server up (`_warm_up`); the clients
then join over the first `RAMP_S` (client n after n/32 of it), as a fleet of agents does, and the
load runs `SETTLE_S` before anything is counted. This scenario measures the server under a steady
mixed load, and its first seconds under load are not that: 32 requests sent in the same
millisecond to a two-core server queue each other for most of a second whatever the server does,
and the first seconds are slower than the rest however the server was warmed by single requests
(its caches of recent records, Chroma's of the index, fill under the load itself). Measured: the
slowest requests of every kind came in the first three seconds, and after a 5 s load that was not
counted, the next 30 s met every target that the same 30 s from a cold start missed. With some
200 requests of each kind in a run, those few first ones would be the p99. `--no-ramp` and
`--settle 0` count them.

Beside the clients, one connection sends `cstp.listGuardrails` (answered from memory on the event
loop: no store call, no worker thread) ten times a second: the `floor (listGuardrails)` row is what
a request that costs the server nothing waits under this load, for the interpreter lock and the
cores, which every query mode's tail includes (not under a target).

The client is threads on `http.client` (the standard library): 32 connections on two cores cost
client CPU, which the server shares, so the absolute latencies are higher than a C client would
see; the ratio p99 / p50 and the maximum are what the targets look at.

Standalone: `python -m bench.scenarios.mixed [--size N] [--seconds S] [--store embedded|server]
[--env CSTP_WRITE_MAX_WAIT=0 ...]` loads N decisions, starts a server (and a Chroma server for
`--store server`) with those extra settings, runs the mix and prints the rows as a table, with the
CPU seconds each process used during the run and the load average before and after.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import datagen
from cstp.client.http import refused_as_busy

CLIENTS = 32
QUERY_MODES = ("semantic", "keyword", "hybrid", "list")
SENT = ("recordDecision", *(f"query {m}" for m in QUERY_MODES))
REFUSED = "recordDecision refused"
# An accepted record from its first attempt to its acceptance, the retries' waits included: what
# the agent waited. Not a request, so not under the 2 s target (bench/report.py leaves it out).
END_TO_END = "recordDecision end to end"
# What any request waits under this load, whatever the server does for it: a method answered from
# memory on the event loop (no store, no thread hop), sent every FLOOR_EVERY_S on one connection
# of its own beside the clients. Not under a target: the figure the query modes' tails sit on.
FLOOR = "floor (listGuardrails)"
FLOOR_EVERY_S = 0.1
KINDS = (SENT[0], REFUSED, END_TO_END, *SENT[1:], FLOOR)
RETRY_CAP_S = 2.0  # a refused client waits retryAfterMs (at most this), then sends the same record
P99_OVER_P50_MAX = 4.0
MAX_MS = 2000.0
SLOWEST = 10  # the slowest requests listed with when they started (do they cluster in time?)
RAMP_S = 1.0  # the clients join over this long (see the module docstring)
SETTLE_S = 5.0  # the load runs this long before requests are counted (see the module docstring)


def _bodies(n_records: int) -> dict[str, list[bytes]]:
    queries = datagen.QUERIES
    out: dict[str, list[bytes]] = {
        "recordDecision": [
            datagen.rpc_body("cstp.recordDecision", p, i).encode()
            for i, p in enumerate(datagen.record_params(n_records, seed=datagen.SEED + 99))
        ]
    }
    for mode in QUERY_MODES:
        params = [
            {
                "query": "" if mode == "list" else q,
                "limit": 5,
                "retrievalMode": mode if mode != "list" else "semantic",
            }
            for q in queries
        ]
        out[f"query {mode}"] = [
            datagen.rpc_body("cstp.queryDecisions", p, i).encode() for i, p in enumerate(params)
        ]
    return out


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    k = min(len(sorted_ms) - 1, max(0, round(q * (len(sorted_ms) - 1))))
    return sorted_ms[k]


def _warm_up(port: int, headers: dict[str, str], bodies: dict[str, list[bytes]]) -> None:
    """One request of each kind, in turn, before the clock starts: the first keyword query builds
    the keyword index and the first list query waits for the browse catalogue's first load (both
    read every record: 2-5 s here under load), which the load would otherwise queue its first
    requests behind. That is start-up cost, measured with the start-up figures; this scenario
    measures a server under a steady mixed load. The warm-up record is a decision like the others."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for kind in SENT:
            conn.request("POST", "/cstp", body=bodies[kind][-1], headers=headers)
            conn.getresponse().read()
    finally:
        conn.close()


def mixed_load(
    port: int,
    token: str,
    seconds: float,
    clients: int = CLIENTS,
    slowest_out: list[tuple[float, float, str]] | None = None,
    retry_refused: bool = True,
    warm_up: bool = True,
    ramp_s: float = RAMP_S,
    settle_s: float = SETTLE_S,
    floor_every_s: float | None = FLOOR_EVERY_S,
) -> dict[str, dict[str, Any]]:
    """Run the mix; per kind: count, errors, p50/p95/p99/max in ms. `slowest_out` receives the
    SLOWEST slowest requests as (ms, seconds into the run when sent, kind), slowest first.
    `retry_refused`: a client whose record is refused waits the hint and sends it again (as an
    agent that must keep its decision would) before going on; otherwise it just goes on.
    `warm_up`: one request of each kind first, alone and not counted (see `_warm_up`).
    `ramp_s`: client n sends its first request n/clients of this after the start (0: all at once).
    `settle_s`: the load runs this long first; only requests sent after it count (`seconds` of them).
    `floor_every_s`: the interval of the FLOOR probe beside the clients (None: no probe)."""
    bodies = _bodies(4096)
    latencies: dict[str, list[float]] = {k: [] for k in KINDS}
    errors: dict[str, int] = dict.fromkeys(KINDS, 0)
    lock = threading.Lock()
    began = time.perf_counter()
    counted_from = began + settle_s
    deadline = counted_from + seconds
    slowest: list[tuple[float, float, str]] = []  # (ms, started at s into the run, kind)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    record_ids = itertools.count()

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        kinds = itertools.cycle(SENT[n % len(SENT) :] + SENT[: n % len(SENT)])
        seen: dict[str, int] = dict.fromkeys(KINDS, n)
        mine_l: dict[str, list[float]] = {k: [] for k in KINDS}
        mine_s: list[tuple[float, float, str]] = []
        mine_e: dict[str, int] = dict.fromkeys(KINDS, 0)
        retry: bytes | None = None
        first_try: float | None = None
        time.sleep(max(0.0, began + ramp_s * n / clients - time.perf_counter()))
        try:
            while time.perf_counter() < deadline:
                if retry is None:
                    kind = next(kinds)
                    pool = bodies[kind]
                    index = next(record_ids) if kind == "recordDecision" else seen[kind]
                    seen[kind] += 1
                    body = pool[index % len(pool)]
                    first_try = None
                else:  # the refused record again: nothing of it was stored
                    kind, body, first_try = "recordDecision", retry, first_try
                    retry = None
                started = time.perf_counter()
                if first_try is None:
                    first_try = started
                reply: Any = None
                try:
                    conn.request("POST", "/cstp", body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    reply = json.loads(data)
                    ok = response.status == 200 and "result" in reply
                    if not ok and refused_as_busy(reply):
                        kind, ok = REFUSED, True
                except (OSError, http.client.HTTPException, ValueError):
                    ok = False
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ended = time.perf_counter()
                counted = started >= counted_from
                if counted:
                    mine_l[kind].append((ended - started) * 1000)
                    mine_s.append((mine_l[kind][-1], started - counted_from, kind))
                if not ok:
                    mine_e[kind] += counted
                elif kind == REFUSED and retry_refused:
                    retry = body
                    hint = float(reply["error"]["data"].get("retryAfterMs", 100)) / 1000
                    time.sleep(min(max(hint, 0.0), RETRY_CAP_S, max(0.0, deadline - ended)))
                elif kind == "recordDecision" and first_try >= counted_from:
                    mine_l[END_TO_END].append((ended - first_try) * 1000)
        finally:
            conn.close()
            with lock:
                for k in KINDS:
                    latencies[k] += mine_l[k]
                    errors[k] += mine_e[k]
                slowest.extend(sorted(mine_s, reverse=True)[:SLOWEST])

    if warm_up:
        _warm_up(port, headers, bodies)
        began = time.perf_counter()
        counted_from = began + settle_s
        deadline = counted_from + seconds

    def floor_probe() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps({"jsonrpc": "2.0", "method": "cstp.listGuardrails", "params": {}, "id": 0}).encode()
        mine: list[float] = []
        failed = 0
        time.sleep(max(0.0, counted_from - time.perf_counter()))
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    conn.request("POST", "/cstp", body=body, headers=headers)
                    response = conn.getresponse()
                    ok = response.status == 200 and "result" in json.loads(response.read())
                except (OSError, http.client.HTTPException, ValueError):
                    ok = False
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                mine.append((time.perf_counter() - started) * 1000)
                failed += not ok
                time.sleep(max(0.0, started + floor_every_s - time.perf_counter()))
        finally:
            conn.close()
            with lock:
                latencies[FLOOR] += mine
                errors[FLOOR] += failed

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    if floor_every_s:
        threads.append(threading.Thread(target=floor_probe))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if slowest_out is not None:
        slowest_out.extend(sorted(slowest, reverse=True)[:SLOWEST])
    out: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        ms = sorted(latencies[kind])
        p50, p99 = _percentile(ms, 0.50), _percentile(ms, 0.99)
        out[kind] = {
            "requests": len(ms),
            "errors": errors[kind],
            "p50_ms": round(p50, 2),
            "p95_ms": round(_percentile(ms, 0.95), 2),
            "p99_ms": round(p99, 2),
            "max_ms": round(ms[-1], 2) if ms else None,
            "p99_over_p50": round(p99 / p50, 2) if ms and p50 > 0 else None,
            "rps": round(len(ms) / seconds, 1),
        }
    return out


def rows(
    figures: dict[str, dict[str, Any]], store: str | None, size: int | None, seconds: float
) -> list[dict[str, Any]]:
    return [
        {"scenario": f"mixed load ({CLIENTS} clients): {kind}", "store": store, "size": size,
         "concurrency": CLIENTS, "seconds": seconds, "server_cpu_ms": None, **f}
        for kind, f in figures.items()
    ]  # fmt: skip


def run(h: Any, server: Any, store: str, size: int) -> None:
    """In `make bench`: on the record store and size, after the single-kind runs."""
    seconds = max(10.0, 2.5 * h.config.run_s)
    h.log(f"mixed load: {CLIENTS} clients, records + every query mode, {seconds:.0f} s ...")
    loadavg = round(float(Path("/proc/loadavg").read_text().split()[0]), 2)
    for r in rows(mixed_load(server.port, h.token, seconds), store, size, seconds):
        h.results.append({**r, "loadavg_1m": loadavg})
    h.drain(server)


def _main() -> None:
    from bench import preload
    from bench.procs import HOST, Registry, cpu_seconds, start_chroma, start_cstp
    from cstp.adapters.chroma.store import ChromaStore
    from cstp.adapters.onnx_embedder import OnnxEmbedder

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--store", choices=("embedded", "server"), default="server")
    p.add_argument("--no-retry", action="store_true", help="a refused record is not sent again")
    p.add_argument("--no-warm-up", action="store_true", help="start the load on a cold server")
    p.add_argument("--no-ramp", action="store_true", help="every client sends its first request at once")
    p.add_argument("--settle", type=float, default=SETTLE_S, help="seconds of load before counting")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a server setting")
    args = p.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)
    reg = Registry()
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="cstp-mixed-") as tmp:
        work = Path(tmp)
        (work / "logs").mkdir()
        try:
            embedder = OnnxEmbedder()
            real = preload.real_vectors(embedder)
            vectors = preload.vectors_for(args.size, real.matrix)
            chroma = None
            if args.store == "server":
                chroma = start_chroma(reg, work / "chroma-server", work / "logs")
                lib = ChromaStore.server(f"http://{HOST}:{chroma.port}", prefix="cstp", space=embedder.space)
            else:
                lib = ChromaStore.embedded(work / "data" / "chroma", prefix="cstp", space=embedder.space)
            try:
                preload.load(lib, args.size, vectors)
            finally:
                lib.close()
            embedder.close()
            server = start_cstp(
                reg,
                "mixed",
                token=token,
                logs=work / "logs",
                data_dir=work / "data",
                chroma_url=f"http://{HOST}:{chroma.port}" if chroma else None,
                extra_env=extra_env,
            )
            watched = {"cstp": server.pid, **({"chroma": chroma.pid} if chroma else {})}
            load_before = Path("/proc/loadavg").read_text().split()[0]
            cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
            slowest: list[tuple[float, float, str]] = []
            figures = mixed_load(
                server.port,
                token,
                args.seconds,
                slowest_out=slowest,
                retry_refused=not args.no_retry,
                warm_up=not args.no_warm_up,
                ramp_s=0.0 if args.no_ramp else RAMP_S,
                settle_s=args.settle,
            )
            cpu = {name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in watched.items()}
            load_after = Path("/proc/loadavg").read_text().split()[0]
        finally:
            for proc in list(reg.procs):
                reg.stop(proc)
    print(
        f"mixed load, {CLIENTS} clients, {args.store} store, {args.size} decisions, {args.seconds:.0f} s"
        f" counted after {args.settle:g} s{'' if not args.no_ramp else ', no ramp'}"
        f"{' '.join(['', *args.env])}; load average {load_before} → {load_after}; CPU seconds "
        + ", ".join(f"{name} {s}" for name, s in cpu.items())
    )
    print(f"{'kind':<24}{'req':>7}{'err':>5}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'p99/p50':>9}  target")
    for kind, f in figures.items():
        if not f["requests"]:
            continue
        target = ""
        if kind.startswith("query"):
            met = f["p99_over_p50"] is not None and f["p99_over_p50"] <= P99_OVER_P50_MAX
            target = f"p99/p50 ≤ {P99_OVER_P50_MAX:g}: {'met' if met else 'missed'}"
        print(
            f"{kind:<24}{f['requests']:>7}{f['errors']:>5}{f['p50_ms']:>9}{f['p99_ms']:>9}"
            f"{f['max_ms']:>9}{f['p99_over_p50']:>9}  {target}"
        )
    worst = max((f["max_ms"] or 0) for k, f in figures.items() if k not in (REFUSED, END_TO_END))
    print(
        f"slowest accepted request: {worst} ms "
        f"(target ≤ {MAX_MS:g} ms: {'met' if worst <= MAX_MS else 'missed'})"
    )
    print("slowest: " + ", ".join(f"{kind} {ms:.0f} ms sent at {at:.1f} s" for ms, at, kind in slowest))
    refused = figures[REFUSED]
    if refused["requests"]:
        print(f"refused writes: {refused['requests']}, answered in at most {refused['max_ms']} ms")


if __name__ == "__main__":
    _main()
