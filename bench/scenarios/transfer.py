"""`cstp import` and `cstp export` of 10k decisions (2k in quick mode) against a real server.

The import rate is set against the server's batched-embedding ceiling measured in the same run:
the same model embedding a sample of the same documents, in this process, while the server is
idle (an import is mostly embedding; the target is ≥ 80% of that ceiling). The ceiling embeds in
calls of IMPORT_BATCH documents, the batch `cstp import` sends and the server embeds in one call,
so both sort and pad the same batches (the model runs them 32 at a time in both). The export
rate has no embedding in it: pages of `cstp.exportDecisions` written as JSON Lines (target ≥
5,000/s). Both run the command's own code in-process (typer's runner), so process start-up is
not counted; the server is a separate process as in production.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from bench import datagen
from bench.harness import Harness
from bench.procs import cpu_seconds, start_cstp

# 10k decisions in full mode (the target's size); quick mode imports 2k to stay within its budget
# (an import is mostly embedding: 10k documents take minutes on a small machine).
SIZES = {"full": 10_000, "quick": 2_000}
CEILING_SAMPLE = 600
IMPORT_BATCH = 200  # `cstp import --batch-size` default: the server embeds each request in one call


def _write_lines(path: Path, n: int) -> list[str]:
    from cstp.domain.transfer import to_line

    docs = []
    with path.open("w", encoding="utf-8") as fh:
        for d in datagen.decisions(n):
            fh.write(json.dumps(to_line(d, []), ensure_ascii=False) + "\n")
            docs.append(d.document())
    return docs


def _cli(url: str, token: str, *args: str) -> tuple[float, Any]:
    from typer.testing import CliRunner

    from cstp.console.main import app

    started = time.perf_counter()
    result = CliRunner().invoke(
        app, ["--url", url, "--token", token, "--json", "--timeout", "1200", *args], catch_exceptions=False
    )
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        raise RuntimeError(f"cstp {args[0]} failed ({result.exit_code}): {result.stderr[-500:]}")
    return seconds, result


def run(h: Harness, embedder: Any, size: int | None = None) -> None:
    size = size or SIZES[h.config.mode]
    work = h.workdir / "transfer"
    work.mkdir(parents=True, exist_ok=True)
    lines = work / "decisions.jsonl"
    docs = _write_lines(lines, size)
    server = start_cstp(
        h.registry,
        "transfer",
        token=h.token,
        logs=h.workdir,
        data_dir=work / "data",
        extra_env={"CSTP_ADMIN_AGENTS": "bench"},
    )
    url = f"http://127.0.0.1:{server.port}"
    try:
        sample = docs[:CEILING_SAMPLE]
        embedder.embed(sample[:64], "document")  # warm-up
        started, cpu_started = time.perf_counter(), time.process_time()
        for start in range(0, len(sample), IMPORT_BATCH):
            embedder.embed(sample[start : start + IMPORT_BATCH], "document")
        ceiling = len(sample) / (time.perf_counter() - started)
        ceiling_cpu_ms = (time.process_time() - cpu_started) / len(sample) * 1000

        server_cpu = cpu_seconds(server.pid)
        seconds, result = _cli(url, h.token, "import", "--batch-size", str(IMPORT_BATCH), str(lines))
        import_cpu_ms = (cpu_seconds(server.pid) - server_cpu) / size * 1000
        report = json.loads(result.stdout)
        if report["imported"] != size or report["skipped"]:
            raise RuntimeError(
                f"import reported {report['imported']} imported, {len(report['skipped'])} skipped"
            )
        import_rate = size / seconds

        again_s, again = _cli(url, h.token, "import", str(lines))
        if json.loads(again.stdout)["unchanged"] != size:
            raise RuntimeError("re-import did not report every decision unchanged")

        out = work / "export.jsonl"
        server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
        export_s, exported = _cli(url, h.token, "export", "--out", str(out))
        export_server_cpu_ms = (cpu_seconds(server.pid) - server_cpu) / size * 1e6
        export_client_cpu_ms = (time.process_time() - client_cpu) / size * 1e6
        count = json.loads(exported.stdout)["exported"]
        if count != size:
            raise RuntimeError(f"export wrote {count} decisions, expected {size}")
    finally:
        h.registry.stop(server)
    h.floors["transfer"] = {
        "size": size,
        "embed_ceiling_docs_per_s": round(ceiling, 1),
        "ceiling_sample": len(sample),
        "ceiling_batch": IMPORT_BATCH,
        "import_s": round(seconds, 2),
        "import_per_s": round(import_rate, 1),
        "import_vs_ceiling": round(import_rate / ceiling, 3),
        # CPU, far less sensitive to a shared machine's load than wall time: the server's per
        # imported decision against the ceiling's per embedded document (same model, same run).
        "import_server_cpu_ms_per_decision": round(import_cpu_ms, 2),
        "ceiling_cpu_ms_per_doc": round(ceiling_cpu_ms, 2),
        "reimport_unchanged_per_s": round(size / again_s, 1),
        "export_s": round(export_s, 2),
        "export_per_s": round(count / export_s, 1),
        "export_bytes": out.stat().st_size,
        "export_server_cpu_ms_per_1k": round(export_server_cpu_ms, 1),
        "export_client_cpu_ms_per_1k": round(export_client_cpu_ms, 1),
        "load_average": round(os.getloadavg()[0], 1),
    }
    t = h.floors["transfer"]
    h.log(
        f"transfer {size}: import {t['import_per_s']:,.0f}/s = {t['import_vs_ceiling']:.0%} of the "
        f"{t['embed_ceiling_docs_per_s']:,.0f} docs/s embedding ceiling (target ≥ 80%), re-import "
        f"{t['reimport_unchanged_per_s']:,.0f}/s, export {t['export_per_s']:,.0f}/s (target ≥ 5,000/s); "
        f"load average {t['load_average']}"
    )
    h.log(
        f"transfer {size}, CPU: import {t['import_server_cpu_ms_per_decision']:.1f} ms of server per "
        f"decision against {t['ceiling_cpu_ms_per_doc']:.1f} ms per document for the ceiling; export "
        f"{t['export_server_cpu_ms_per_1k']:.0f} ms of server and "
        f"{t['export_client_cpu_ms_per_1k']:.0f} ms of client per 1,000"
    )
