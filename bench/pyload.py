"""The fallback load client: asyncio (uvloop when present) over raw keep-alive HTTP/1.1 sockets.

Used when `wrk` is missing (or with `--client python`). httpx's AsyncClient costs several hundred
microseconds of CPU per request, which on a two-core machine is taken straight from the server;
this client writes pre-encoded requests and parses only the status line and Content-Length, so it
costs tens of microseconds. Prints one `WRKJSON {...}` line in the same shape as the wrk script.

    BENCH_TOKEN=T python -m bench.pyload --url http://127.0.0.1:8100 --bodies FILE --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from urllib.parse import urlsplit


def _percentile(sorted_values: list[int], p: float) -> int:
    if not sorted_values:
        return 0
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


async def _worker(
    host: str,
    port: int,
    requests: list[bytes],
    offset: int,
    deadline: float,
    expect_error: bool,
    mcp: bool,
    out: dict[str, list[int]],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    latencies = out["latencies"]
    i = offset
    try:
        while time.perf_counter() < deadline:
            req = requests[i % len(requests)]
            i += 1
            start = time.perf_counter_ns()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            body = await reader.readexactly(length) if length else b""
            latencies.append((time.perf_counter_ns() - start) // 1000)
            failed = (b'"isError":true' in body) if mcp else (b'"error"' in body[:80])
            if status != 200 or failed != expect_error:
                out["errors"].append(1)
    except (OSError, asyncio.IncompleteReadError):
        out["socket_errors"].append(1)
    finally:
        writer.close()


async def _main(args: argparse.Namespace) -> None:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    bodies = [line.strip() for line in open(args.bodies, encoding="utf-8") if line.strip()]
    # An MCP tools/call (Streamable HTTP) also names the revision and accepts JSON or SSE.
    extra = (
        "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-11-25\r\n"
        if args.mcp
        else ""
    )
    requests = [
        (
            f"POST {args.path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {args.token}\r\n"
            f"{extra}Content-Type: application/json\r\nContent-Length: {len(b.encode())}\r\n\r\n{b}"
        ).encode()
        for b in bodies
    ]
    out: dict[str, list[int]] = {"latencies": [], "errors": [], "socket_errors": []}
    started = time.perf_counter()
    deadline = started + args.seconds
    await asyncio.gather(
        *(
            _worker(host, port, requests, c * 7, deadline, args.expect_error, args.mcp, out)
            for c in range(args.concurrency)
        )
    )
    duration = time.perf_counter() - started
    lat = sorted(out["latencies"])
    summary = {
        "requests": len(lat),
        "duration_us": int(duration * 1e6),
        "socket_errors": len(out["socket_errors"]),
        "timeouts": 0,
        "rpc_errors": len(out["errors"]),
        "p50_us": _percentile(lat, 50),
        "p95_us": _percentile(lat, 95),
        "p99_us": _percentile(lat, 99),
        "mean_us": sum(lat) / len(lat) if lat else 0.0,
        "max_us": lat[-1] if lat else 0,
    }
    print("WRKJSON " + json.dumps(summary), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.pyload")
    p.add_argument("--url", required=True)
    p.add_argument("--token", default=os.environ.get("BENCH_TOKEN"), help="default: $BENCH_TOKEN")
    p.add_argument("--bodies", required=True)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--expect-error", action="store_true", help="a JSON-RPC error is the expected reply")
    p.add_argument("--path", default="/cstp", help="request path (default /cstp)")
    p.add_argument(
        "--mcp", action="store_true", help="the bodies are MCP tools/call requests (isError = error)"
    )
    args = p.parse_args()
    if not args.token:
        p.error("--token or BENCH_TOKEN is required")
    try:
        import uvloop

        uvloop.run(_main(args))
    except ImportError:
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
