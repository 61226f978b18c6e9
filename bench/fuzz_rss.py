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
from collections import Counter
from pathlib import Path

from bench.procs import Registry, rss_mb, start_cstp


def _bodies(rng: random.Random, n: int) -> list[bytes]:
    out: list[bytes] = []
    for i in range(n):
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
        elif kind < 6:
            mode = rng.choice(["semantic", "keyword", "hybrid", "list"])
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
            out.append(raw.encode("utf-8", "surrogatepass"))
            continue
        out.append(json.dumps(body).encode())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=8)
    args = p.parse_args()
    rng = random.Random(13)
    bodies = _bodies(rng, args.requests)
    token = secrets.token_urlsafe(24)
    reg = Registry()
    outcomes: Counter[str] = Counter()
    invalid: list[bytes] = []
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="cstp-fuzz-rss-") as tmp:
        work = Path(tmp)
        (work / "logs").mkdir()
        try:
            server = start_cstp(reg, "fuzz", token=token, logs=work / "logs", data_dir=work / "data")
            print(f"RSS at /ready: {rss_mb(server.pid):.0f} MB")
            step = max(1, len(bodies) // 10)
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            for start in range(0, len(bodies), step):
                chunk = bodies[start : start + step]

                def worker(part: list[bytes]) -> None:
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
                    for body in part:
                        try:
                            conn.request("POST", "/cstp", body=body, headers=headers)
                            r = conn.getresponse()
                            data = r.read()
                            reply = json.loads(data.decode("utf-8"), parse_constant=lambda c: 1 / 0)
                            first = reply[0] if isinstance(reply, list) else reply
                            code = first["error"]["code"] if "error" in first else None
                            key = f"{r.status} " + ("detail" if "detail" in first else str(code or "ok"))
                        except Exception as e:  # noqa: BLE001 - a broken reply is what is counted
                            key = f"broken {type(e).__name__}"
                            with lock:
                                invalid.append(body[:200])
                            conn.close()
                            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
                        with lock:
                            outcomes[key] += 1
                    conn.close()

                parts = [chunk[i :: args.threads] for i in range(args.threads)]
                threads = [threading.Thread(target=worker, args=(part,)) for part in parts]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                print(f"after {start + len(chunk):>6} requests: RSS {rss_mb(server.pid):.0f} MB")
        finally:
            for proc in list(reg.procs):
                reg.stop(proc)
    print("outcomes:", dict(sorted(outcomes.items())))
    print(f"replies that were not valid JSON-RPC: {len(invalid)}")


if __name__ == "__main__":
    main()
