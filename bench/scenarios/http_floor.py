"""The per-request floor: a trivial method (`cstp.listGuardrails`) against the reference server.

`cstp.listGuardrails` with the packaged rules does no I/O: what it costs is the HTTP stack, auth,
the JSON-RPC envelope, params validation, the result's encoding, logging and metrics. The reference
server (cognition-engines) answered the same call on this machine at the figures in `REFERENCE`;
they are printed next to ours as the floor this server must reach. Each concurrency is measured
`repeats` times on one server and the medians are reported (the machine is shared and noisy). The
server runs at the default log level (INFO), so the per-call log line is part of the cost.

    python -m bench --only http-floor      # this scenario alone, about 30 s
"""

from __future__ import annotations

import statistics

from bench import datagen
from bench.harness import Harness
from bench.load import Run
from bench.procs import start_cstp

METHOD = "cstp.listGuardrails"
SCENARIO = f"http floor ({METHOD})"
# Measured on this machine with the same client (asyncio, keep-alive, closed loop).
REFERENCE = {"p50_ms_c1": 0.55, "rps_c16": 1742.0}


def _median_run(runs: list[Run]) -> dict[str, float]:
    return {
        "rps": round(statistics.median(r.rps for r in runs), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in runs), 3),
        "p99_ms": round(statistics.median(r.p99_ms for r in runs), 3),
        "server_cpu_ms": round(statistics.median(r.server_cpu_ms for r in runs), 3),
    }


def run(h: Harness, repeats: int = 5) -> None:
    server = start_cstp(
        h.registry,
        "http-floor",
        token=h.token,
        logs=h.workdir / "logs",
        data_dir=h.workdir / "data-http-floor",
        log_level="INFO",  # the default: the per-call log line is part of what a request costs
    )
    body = datagen.rpc_body(METHOD, {})
    try:
        h.validate(server, METHOD, [{}] * 50)  # first calls are slow (lazy imports, first paths)
        h.measure(server, [body], 4, 1)
        medians: dict[int, dict[str, float]] = {}
        for c in h.config.concurrencies:
            runs = [h.measure(server, [body], c, h.config.floor_s) for _ in range(repeats)]
            medians[c] = _median_run(runs)
            h.log(
                f"{SCENARIO} c={c}: median of {repeats}: {medians[c]['rps']:.0f} req/s, "
                f"p50 {medians[c]['p50_ms']:.3f} ms (runs: "
                + ", ".join(f"{r.rps:.0f}/s {r.p50_ms:.3f} ms" for r in runs)
                + ")"
            )
        h.floors["http_floor"] = {
            "method": METHOD,
            "repeats": repeats,
            "reference": REFERENCE,
            "cstp": {f"c={c}": m for c, m in medians.items()},
        }
    finally:
        h.registry.stop(server)
