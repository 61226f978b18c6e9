"""`python -m bench --mode quick|full`: run the benchmark suite, print Markdown, write JSON.

    make bench-quick     # 1k and 10k decisions, short runs (< 3 minutes)
    make bench           # adds 100k decisions, longer runs (< 30 minutes)

Everything runs on 127.0.0.1 and everything started (cstp servers, Chroma servers, load clients,
containers) is stopped at the end, on an error, and on Ctrl-C / SIGTERM. Nothing here is a test:
the figures are reported, with their floors and the performance targets (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import os

# Before chromadb / onnxruntime are imported anywhere: nothing phones home, nothing downloads.
os.environ.update({"ORT_DISABLE_TELEMETRY": "1", "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"})

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402
from types import FrameType  # noqa: E402
from typing import Any  # noqa: E402

from bench import preload, report  # noqa: E402
from bench.harness import Config, Harness  # noqa: E402
from bench.load import LoadClient, ensure_wrk  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=["quick", "full"], default="quick")
    p.add_argument(
        "--client",
        choices=["python", "wrk"],
        default="python",
        help="load client for the measurements: the asyncio client (default, exact percentiles) or wrk; "
        "wrk is installed with apt-get when missing and possible, and measured next to the asyncio "
        "client in every run (docs/PERFORMANCE.md, Load generation)",
    )
    p.add_argument("--sizes", help="comma-separated decision counts, overriding the mode's")
    p.add_argument("--stores", help="comma-separated: embedded,server")
    p.add_argument("--no-docker", action="store_true", help="skip the Docker section")
    p.add_argument("--no-cache", action="store_true", help="re-embed instead of using ~/.cache/cstp-bench")
    p.add_argument("--out", type=Path, default=RESULTS / "latest.json", help="JSON output file")
    p.add_argument("--keep-workdir", action="store_true", help="keep data directories and logs")
    p.add_argument(
        "--only",
        choices=["http-floor", "guardrails", "mcp", "transfer", "ui", "workers"],
        help="run one scenario: http-floor (a trivial method against the reference server's figures), "
        "guardrails (checkGuardrails with 10 and 200 rules, and with circuit breakers), "
        "mcp (MCP tool calls against their JSON-RPC twins) "
        "transfer (cstp import / export of 10k decisions) "
        "ui (the dashboard's pages, server time per page, embedded Chroma at the mode's sizes) "
        "or workers (checkGuardrails and queryDecisions with 1, 2 and 4 CSTP_WORKERS on one Chroma server)",
    )
    p.add_argument("--report", type=Path, help="print the Markdown report of an earlier JSON file and exit")
    return p


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.report:
        data = json.loads(args.report.read_text())
        data["targets"] = report.targets(data)
        print(report.markdown(data))
        return 0
    config = Config.for_mode(args.mode)
    if args.sizes:
        config = replace(config, sizes=tuple(int(s) for s in args.sizes.split(",")))
    if args.stores:
        config = replace(config, stores=tuple(s.strip() for s in args.stores.split(",")))
    signal.signal(signal.SIGTERM, _on_sigterm)

    wrk = ensure_wrk(allow_install=True)
    if args.client == "wrk" and wrk is None:
        print("bench: wrk is not available", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="cstp-bench-"))
    h = Harness(config, workdir, LoadClient(args.client, wrk, workdir))
    if wrk is None:
        h.notes.append("wrk not available: the load client comparison has the asyncio client only")
    kind = args.client
    h.log(f"mode {config.mode}, client {kind}, workdir {workdir}")
    failed: str | None = None
    try:
        _run(h, args)
    except KeyboardInterrupt:
        failed = "interrupted"
    except BaseException as e:  # report what was measured, then fail
        failed = f"{type(e).__name__}: {e}"
        traceback.print_exc()
    finally:
        h.registry.stop_all()
    data = _collect(h)
    if failed:
        data["incomplete"] = failed
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(report.markdown(data))
    h.log(f"JSON written to {args.out}")
    if args.keep_workdir:
        h.log(f"workdir kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if failed:
        print(f"bench: incomplete run ({failed})", file=sys.stderr)
        return 1
    return 0


def _run(h: Harness, args: argparse.Namespace) -> None:
    from bench.scenarios import docker_ops, guardrails, http_floor, mcp, queries, transfer, workers

    if args.only == "mcp":
        mcp.run(h)
        h.docker = {"skipped": "--only mcp"}
        return
    if args.only == "ui":
        from bench.scenarios import ui

        ui.run_alone(h, use_cache=not args.no_cache)
        h.docker = {"skipped": "--only ui"}
        return
    if args.only == "transfer":
        from cstp.adapters.onnx_embedder import OnnxEmbedder

        only = OnnxEmbedder()
        try:
            transfer.run(h, only)
        finally:
            only.close()
        h.docker = {"skipped": "--only transfer"}
        return
    if args.only == "workers":
        from cstp.adapters.onnx_embedder import OnnxEmbedder

        only = OnnxEmbedder()
        try:
            workers.run(h, only, preload.real_vectors(only, use_cache=not args.no_cache))
        finally:
            only.close()
        h.docker = {"skipped": "--only workers"}
        return
    http_floor.run(h)
    if args.only == "http-floor":
        h.docker = {"skipped": "--only http-floor"}
        return
    if args.only == "guardrails":
        guardrails.run(h)
        h.docker = {"skipped": "--only guardrails"}
        return
    mcp.run(h)
    from cstp.adapters.onnx_embedder import OnnxEmbedder

    embedder = OnnxEmbedder()
    real = preload.real_vectors(embedder, use_cache=not args.no_cache)
    h.floors["real_vectors"] = {
        "count": len(real.matrix),
        "embed_s": round(real.embed_seconds, 1),
        "cached": real.cached,
    }
    source = "from the cache" if real.cached else f"embedded in {real.embed_seconds:.1f}s"
    h.log(f"{len(real.matrix)} real document vectors, {source}")
    queries.run(h, embedder, real)
    transfer.run(h, embedder)
    guardrails.run(h)
    workers.run(h, embedder, real)
    if args.no_docker:
        h.docker = {"skipped": "--no-docker"}
    else:
        docker_ops.run(h, build_timeout=600 if h.config.mode == "full" else 240)
    embedder.close()


def _collect(h: Harness) -> dict[str, Any]:
    data: dict[str, Any] = {
        "meta": h.meta(),
        "results": h.results,
        "floors": h.floors,
        "memory": h.memory,
        "servers": h.servers,
        "loads": h.loads,
        "docker": h.docker,
        "notes": h.notes,
    }
    data["targets"] = report.targets(data)
    return data


if __name__ == "__main__":
    sys.exit(main())
