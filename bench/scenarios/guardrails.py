"""checkGuardrails with 10 and 200 loaded rules, against the HTTP floor of the same server.

The rule files are generated (`datagen.guardrail_rules`: flat legacy keys, CEL strings, `{cel: }`
maps, map conditions, nested `requires`, scopes) so that, with the rules cstp ships, exactly 10 or
200 rules are loaded. They are compiled in-process with cstp's own loader first, so a file the
server would refuse stops the bench with the loader's message.

On the 10-rule server the HTTP floor is also measured with the other load client, to show what
each client costs (see docs/PERFORMANCE.md, "Load generation"). The same 10 rules are measured once
more with circuit breakers configured, one of them `global` so that every check consults it (the
worst case; with no breaker configured a check does no breaker work at all).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from bench import datagen
from bench.harness import Harness
from bench.procs import Proc, start_cstp
from bench.scenarios.queries import NOOP, noop_floor, row
from cstp.domain.guardrails import load_rules


def run(h: Harness) -> None:
    packaged = len(load_rules([]))
    params = datagen.guardrail_actions()
    bodies = [datagen.rpc_body("cstp.checkGuardrails", p, i) for i, p in enumerate(params)]
    for total in h.config.guardrail_rules:
        rules_dir = h.workdir / f"guardrails-{total}"
        rules_dir.mkdir(parents=True, exist_ok=True)
        generated = datagen.guardrail_rules(max(0, total - packaged))
        (rules_dir / "bench.yaml").write_text(yaml.safe_dump(generated, sort_keys=False))
        loaded = len(load_rules([rules_dir]))
        server = start_cstp(
            h.registry,
            f"guardrails-{total}",
            token=h.token,
            logs=h.workdir / "logs",
            data_dir=h.workdir / f"data-guardrails-{total}",
            guardrails=rules_dir,
        )
        h.log(f"guardrails server with {loaded} rules ready in {server.info['ready_s']:.2f}s")
        h.servers.append(
            {"store": "embedded", "size": 0, "rules": loaded, "ready_s": round(server.info["ready_s"], 3)}
        )
        try:
            http = noop_floor(h, server, None, None, rules=loaded)
            h.validate(server, "cstp.checkGuardrails", params)
            if h.config.warmup_s:
                h.measure(server, bodies, 4, h.config.warmup_s)
            for c in h.config.concurrencies:
                r = h.measure(server, bodies, c, h.config.run_s)
                h.add(
                    row(
                        f"checkGuardrails {loaded} rules",
                        None,
                        None,
                        r,
                        "http floor (noop)",
                        http[c].p50_ms,
                        http[c].rps,
                        rules=loaded,
                    )
                )
            if total == h.config.guardrail_rules[0]:
                _client_overhead(h, server)
        finally:
            h.servers[-1]["stop_s"] = round(h.registry.stop(server), 3)
        if total == h.config.guardrail_rules[0]:
            _with_breakers(h, rules_dir, loaded, params, bodies)


BREAKERS = {
    "circuit_breakers": [
        {"scope": "global", "failure_threshold": 50, "window_ms": 3_600_000, "cooldown_ms": 600_000},
        {"scope": "stakes:high", "failure_threshold": 3, "window_ms": 86_400_000, "cooldown_ms": 3_600_000},
    ]
}


def _with_breakers(h: Harness, rules_dir: Path, loaded: int, params: list[Any], bodies: list[str]) -> None:
    """checkGuardrails on the same rules plus circuit breakers (a `global` one: every check)."""
    breaker_dir = h.workdir / "guardrails-breakers"
    breaker_dir.mkdir(parents=True, exist_ok=True)
    for f in rules_dir.glob("*.yaml"):
        shutil.copy(f, breaker_dir / f.name)
    (breaker_dir / "circuit_breakers.yaml").write_text(yaml.safe_dump(BREAKERS, sort_keys=False))
    assert len(load_rules([breaker_dir]).breakers) == 2
    server = start_cstp(
        h.registry,
        "guardrails-breakers",
        token=h.token,
        logs=h.workdir / "logs",
        data_dir=h.workdir / "data-guardrails-breakers",
        guardrails=breaker_dir,
    )
    h.servers.append(
        {
            "store": "embedded",
            "size": 0,
            "rules": loaded,
            "breakers": 2,
            "ready_s": round(server.info["ready_s"], 3),
        }
    )
    try:
        http = noop_floor(h, server, None, None, rules=loaded)
        h.validate(server, "cstp.checkGuardrails", params)
        if h.config.warmup_s:
            h.measure(server, bodies, 4, h.config.warmup_s)
        for c in h.config.concurrencies:
            r = h.measure(server, bodies, c, h.config.run_s)
            name = f"breakers: checkGuardrails {loaded} rules + 2 breakers (one global)"
            h.add(row(name, None, None, r, "http floor (noop)", http[c].p50_ms, http[c].rps, rules=loaded))
    finally:
        h.servers[-1]["stop_s"] = round(h.registry.stop(server), 3)


def _client_overhead(h: Harness, server: Proc) -> None:
    """The HTTP floor with both clients, at c=1 and c=16: req/s, client CPU, consistency."""
    out = {}
    for kind, c in (("wrk", 1), ("python", 1), ("wrk", 16), ("python", 16)):
        if kind == "wrk" and h.client.wrk_path is None:
            continue
        r = h.measure(server, [NOOP], c, h.config.floor_s, kind=kind, expect_error=True)
        out[f"{kind} c={c}"] = {
            "rps": round(r.rps, 1),
            "p50_ms": round(r.p50_ms, 3),
            "client_cpu_us_per_request": round(r.client_cpu_us, 1),
            "server_cpu_ms_per_request": round(r.server_cpu_ms, 3),
            "p99_ms": round(r.p99_ms, 3),
            "littles_law": round(r.littles_law, 2),
        }
        h.log(
            f"client {kind} c={c}: {r.rps:.0f} req/s, p99 {r.p99_ms:.2f} ms, client CPU "
            f"{r.client_cpu_us:.0f} µs/request, Little's law {r.littles_law:.2f}"
        )
    h.floors["client_overhead"] = out
