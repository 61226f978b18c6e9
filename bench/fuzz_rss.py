"""Server RSS over a long run of fuzzed requests: `python -m bench.fuzz_rss [--requests N]`.

Starts `cstp-server` (embedded store) on a fresh data directory and sends N requests from 8
threads: valid records with free-form fields near their limits, queries in every mode, and
malformed or mutated requests (surrogates, NaN literals, inexact ids, deep nesting, unknown params,
oversized fields, broken JSON). Prints the server's RSS at /ready and every N/10 requests, the
replies by outcome, and checks that every reply was valid JSON-RPC. Reading the figures: growth that
follows the number of stored decisions is data (the keyword index and Chroma hold them); growth
without more data is what this is for.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import secrets
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench.procs import Registry, cpu_seconds, rss_mb, start_chroma, start_cstp
from cstp.client.http import refused_as_busy

CLASSES = ("record", "query-semantic", "query-keyword", "query-hybrid", "query-list", "list", "malformed")


def _bodies(rng: random.Random, n: int, only: frozenset[str] = frozenset(CLASSES)) -> list[bytes]:
    """`n` request bodies of the classes in `only`, drawn from the same seeded stream as a full run."""
    out: list[bytes] = []
    i = -1
    while len(out) < n:
        i += 1
        kind = rng.randrange(10)
        if kind < 3:
            params = {
                "decision": f"Decision {i}: " + "word " * rng.randrange(1, 200),
                "confidence": rng.random(),
                "context": "ctx " * rng.randrange(0, 2000),
                "bridge": {
                    "structure": "s" * rng.randrange(0, 30_000),
                    "function": "f" * rng.randrange(0, 30_000),
                },
                "trace": [{"step": "t" * rng.randrange(0, 500)} for _ in range(rng.randrange(0, 20))],
                "tags": [f"t{rng.randrange(50)}" for _ in range(rng.randrange(0, 5))],
            }
            body = {"jsonrpc": "2.0", "method": "cstp.recordDecision", "params": params, "id": i}
            cls = "record"
        elif kind < 6:
            mode = rng.choice(["semantic", "keyword", "hybrid", "list"])
            cls = f"query-{mode}"
            query = "" if mode == "list" else f"word {rng.randrange(1000)}"
            body = {
                "jsonrpc": "2.0",
                "method": "cstp.queryDecisions",
                "params": {
                    "query": query,
                    "retrievalMode": mode if mode != "list" else "semantic",
                    "limit": 10,
                },
                "id": i,
            }
        elif kind < 7:
            body = {
                "jsonrpc": "2.0",
                "method": "cstp.listDecisions",
                "params": {"limit": 50, "limt": 3},
                "id": i,
            }
            cls = "list"
        else:
            raw = rng.choice(
                [
                    '{"jsonrpc":"2.0","method":"cstp.recordDecision","params":{"decision":"x\\ud800"},"id":1}',
                    '{"jsonrpc":"2.0","method":"cstp.recordDecision","params":{"decision":"x","bridge":{"a":NaN}},"id":1}',
                    '{"jsonrpc":"2.0","method":"cstp.getStats","id":1e400}',
                    '{"jsonrpc":"2.0","method":"cstp.getStats","id":123456789012345678901234567890.5}',
                    '{"jsonrpc":"2.0","method":"cstp.recordDecision","params":{"decision":"x","reviewIn":"99999999999d"},"id":1}',
                    "[" * 5000 + "]" * 5000,
                    '{"jsonrpc":"2.0","method":"cstp.nope","params":{},"id":1}',
                    '{"jsonrpc":"2.0","method":"cstp.recordDecision","params":{"decision":"'
                    + "y" * 120_000
                    + '"},"id":1}',
                    '{"jsonrpc":"2.0","method":',
                    "\ufeff" + '{"jsonrpc":"2.0","method":"cstp.getStats","id":"bom"}',
                ]
            )
            if "malformed" in only:
                out.append(raw.encode("utf-8", "surrogatepass"))
            continue
        if cls in only:
            out.append(json.dumps(body).encode())
    return out


def smaps_mb(pid: int) -> dict[str, float]:
    """Resident MiB of `pid` by kind of mapping: the brk heap, anonymous mmaps, shared libraries, other files.

    Anonymous mmaps hold glibc's non-main arenas, malloc's large (mmap-threshold) blocks and what
    Rust and onnxruntime map directly; file-backed pages are code and the data files' page cache.
    """
    out = {"heap": 0.0, "anon": 0.0, "libs": 0.0, "files": 0.0}
    name = ""
    try:
        lines = Path(f"/proc/{pid}/smaps").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        fields = line.split()
        if not fields:
            continue
        if not fields[0].endswith(":"):  # a mapping's header: range, perms, offset, dev, inode[, path]
            name = fields[5] if len(fields) > 5 else ""
        elif fields[0] == "Rss:":
            mb = int(fields[1]) / 1024
            if name == "[heap]":
                out["heap"] += mb
            elif not name or name.startswith("["):
                out["anon"] += mb
            elif ".so" in name:
                out["libs"] += mb
            else:
                out["files"] += mb
    return out


def _rss_line(pid: int) -> str:
    parts = smaps_mb(pid)
    return f"RSS {rss_mb(pid):.0f} MB (" + ", ".join(f"{k} {v:.0f}" for k, v in parts.items()) + ")"


def _send(
    port: int, token: str, bodies: list[bytes], threads: int, outcomes: Counter[str], invalid: list[bytes]
) -> None:
    """Send `bodies` from `threads` keep-alive connections, counting each reply's outcome."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    lock = threading.Lock()

    def worker(part: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for body in part:
            try:
                conn.request("POST", "/cstp", body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                reply = json.loads(data.decode("utf-8"), parse_constant=lambda c: 1 / 0)
                first = reply[0] if isinstance(reply, list) else reply
                code = first["error"]["code"] if "error" in first else None
                key = f"{r.status} " + ("detail" if "detail" in first else str(code or "ok"))
                if refused_as_busy(first):
                    key += " (server busy: write admission)"  # retryable, not an internal error
            except Exception as e:  # noqa: BLE001 - a broken reply is what is counted
                key = f"broken {type(e).__name__}"
                with lock:
                    invalid.append(body[:200])
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            with lock:
                outcomes[key] += 1
        conn.close()

    parts = [bodies[i::threads] for i in range(threads)]
    pool = [threading.Thread(target=worker, args=(part,)) for part in parts]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument(
        "--only",
        default=",".join(CLASSES),
        help=f"comma-separated request classes to send, of {', '.join(CLASSES)}",
    )
    p.add_argument("--preload", type=int, default=0, help="records sent before the measured requests")
    p.add_argument(
        "--store",
        choices=["embedded", "server"],
        default="embedded",
        help="server: a `chroma run` of its own",
    )
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra server environment")
    args = p.parse_args()
    only = frozenset(c.strip() for c in args.only.split(",") if c.strip())
    if unknown := only - set(CLASSES):
        p.error(f"unknown classes: {', '.join(sorted(unknown))}")
    extra = dict(kv.split("=", 1) for kv in args.env)
    rng = random.Random(13)
    preload = _bodies(random.Random(7), args.preload, frozenset({"record"})) if args.preload else []
    bodies = _bodies(rng, args.requests, only)
    token = secrets.token_urlsafe(24)
    reg = Registry()
    outcomes: Counter[str] = Counter()
    invalid: list[bytes] = []
    with tempfile.TemporaryDirectory(prefix="cstp-fuzz-rss-") as tmp:
        work = Path(tmp)
        (work / "logs").mkdir()
        try:
            chroma_url = None
            if args.store == "server":
                chroma = start_chroma(reg, work / "chroma", work / "logs")
                chroma_url = f"http://127.0.0.1:{chroma.port}"
            server = start_cstp(
                reg,
                "fuzz",
                token=token,
                logs=work / "logs",
                data_dir=work / "data",
                chroma_url=chroma_url,
                extra_env=extra,
            )
            print(f"RSS at /ready: {_rss_line(server.pid)}")
            if preload:
                _send(server.port, token, preload, args.threads, Counter(), [])
                print(f"after {len(preload)} preloaded records: {_rss_line(server.pid)}")
            step = max(1, len(bodies) // 10)
            started, cpu_started = time.perf_counter(), cpu_seconds(server.pid)
            for start in range(0, len(bodies), step):
                chunk = bodies[start : start + step]
                _send(server.port, token, chunk, args.threads, outcomes, invalid)
                line = f"after {start + len(chunk):>6} requests: {_rss_line(server.pid)}"
                if chroma_url:
                    line += f"; chroma RSS {rss_mb(chroma.pid):.0f} MB"
                print(line, flush=True)
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(server.pid) - cpu_started
            print(
                f"{len(bodies)} requests in {elapsed:.0f} s ({len(bodies) / elapsed:.1f} per second), "
                f"server CPU {cpu:.0f} s ({1000 * cpu / len(bodies):.0f} ms per request)"
            )
        finally:
            for proc in reversed(list(reg.procs)):
                reg.stop(proc)
    print("outcomes:", dict(sorted(outcomes.items())))
    print(f"replies that were not valid JSON-RPC: {len(invalid)}")


if __name__ == "__main__":
    main()
