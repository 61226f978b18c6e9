"""A/B of cstp builds on the same data: servers from several source trees, measured in turn.

    python -m bench.ab_servers --tree before=/path/to/old/src --tree after=src [--rounds 3]

Each round starts one server per tree (`cstp-server` with PYTHONPATH set to the tree) on its own
copy of one preloaded embedded store (10k benchmark decisions by default, `bench.preload`), runs
the same request mixes at c = 1 with the asyncio client (after a warm-up and a pause for the
server's background loads, each mix REPEATS times, interleaved), and stops it; the trees alternate
within each round, in reverse order every other round (a tree measured always first or always
last would carry whatever the position costs: the previous server's exit, the fresh data copy), so
the machine's load drifts over all of them alike. Printed per tree and scenario: the median of
every run's p50, with each value and the load average. `--scenario` (repeatable) runs only those
mixes; two `--tree`s with the same source give an A/A baseline of the method's own spread.

With `--export`, each server instead runs `cstp export --out` of every decision REPEATS times
(the command in this process, as `bench.scenarios.transfer` runs it), in decisions/s, with the
server's CPU time per 1,000 decisions exported (from /proc: all its threads).

Scenarios: the semantic query (queryDecisions' bench mix), the category-filtered query preAction
makes, preAction itself (`autoRecord: false`), and checkGuardrails (10 rules shipped).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import datagen, preload
from bench.load import LoadClient
from bench.procs import HOST, Registry, cpu_seconds, start_cstp
from bench.scenarios import workflow
from bench.scenarios.queries import query_params

SETTLE_S = 5.0
REPEATS = 2  # runs of each mix per server, the mixes interleaved


def _bodies() -> dict[str, list[str]]:
    def encoded(method: str, params: list[dict[str, Any]]) -> list[str]:
        return [datagen.rpc_body(method, p, i) for i, p in enumerate(params)]

    actions = [
        {"action": {"description": q, "category": "process", "stakes": "medium"}} for q in datagen.QUERIES
    ]
    return {
        "query semantic": encoded("cstp.queryDecisions", query_params()["semantic"]),
        "query category": encoded("cstp.queryDecisions", workflow.category_query_params()),
        "preAction": encoded("cstp.preAction", workflow.pre_action_params()),
        "checkGuardrails": encoded("cstp.checkGuardrails", actions),
    }


def _export_rate(port: int, token: str, out: Path, size: int) -> float:
    """`cstp export --out` run in this process (typer's runner, as bench.scenarios.transfer does)."""
    from typer.testing import CliRunner

    from cstp.console.main import app

    url = f"http://{HOST}:{port}"
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["--url", url, "--token", token, "--json", "export", "--out", str(out)])
    seconds = time.perf_counter() - started
    if result.exit_code != 0 or json.loads(result.stdout)["exported"] != size:
        raise SystemExit(f"export failed ({result.exit_code}): {result.output[-300:]}")
    return size / seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tree", action="append", required=True, help="name=path to a cstp src directory")
    p.add_argument("--size", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--export", action="store_true", help="only `cstp export --out` of every decision")
    p.add_argument("--scenario", action="append", help="only this mix (repeatable): " + ", ".join(_bodies()))
    args = p.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree)
    work = Path(tempfile.mkdtemp(prefix="cstp-ab-"))
    registry = Registry()
    try:
        from cstp.adapters.chroma.store import ChromaStore
        from cstp.adapters.onnx_embedder import OnnxEmbedder

        embedder = OnnxEmbedder()
        real = preload.real_vectors(embedder)
        seed = work / "seed"
        store = ChromaStore.embedded(seed / "chroma", prefix="cstp", space=embedder.space)
        try:
            preload.load(store, args.size, preload.vectors_for(args.size, real.matrix))
        finally:
            store.close()
        embedder.close()
        client = LoadClient("python", None, work)
        bodies = {k: v for k, v in _bodies().items() if not args.scenario or k in args.scenario}
        if not bodies:
            raise SystemExit(f"no such scenario: {args.scenario}")
        token = "ab-" + os.urandom(12).hex()
        p50: dict[tuple[str, str], list[float]] = {}
        loads: list[float] = []
        for r in range(args.rounds):
            order = list(trees.items())
            for name, src in order if r % 2 == 0 else reversed(order):
                data = work / f"data-{name}-{r}"
                shutil.copytree(seed, data)
                env = {"PYTHONPATH": str(Path(src).resolve()), "CSTP_ADMIN_AGENTS": "bench"}
                server = start_cstp(
                    registry, f"{name}-{r}", token=token, logs=work, data_dir=data, extra_env=env
                )
                try:
                    if args.export:
                        # A first export overlaps the server's start-up index check (it reads
                        # every record): run one and drop it.
                        _export_rate(server.port, token, work / "export.jsonl", args.size)
                        for _ in range(REPEATS):
                            cpu = cpu_seconds(server.pid)
                            rate = _export_rate(server.port, token, work / "export.jsonl", args.size)
                            cpu_ms = (cpu_seconds(server.pid) - cpu) / args.size * 1e6
                            p50.setdefault((name, "export, decisions/s (target ≥ 5,000)"), []).append(rate)
                            # CPU per 1,000: what a loaded machine distorts far less than the rate.
                            p50.setdefault((name, "export, server CPU ms per 1,000"), []).append(cpu_ms)
                        loads.append(os.getloadavg()[0])
                        continue
                    # Warm-up: every mix once (the digest, the catalogue and the start-up index
                    # check load in the background), then a pause for them to finish.
                    for b in bodies.values():
                        client.run(server.port, token, b, 1, 1.0)
                    time.sleep(SETTLE_S)
                    for _ in range(REPEATS):
                        for scenario, b in bodies.items():
                            run = client.run(server.port, token, b, 1, args.seconds)
                            if run.errors or not run.requests:
                                raise SystemExit(f"{name} {scenario}: {run.errors} errors of {run.requests}")
                            p50.setdefault((name, scenario), []).append(run.p50_ms)
                    loads.append(os.getloadavg()[0])
                finally:
                    registry.stop(server)
                shutil.rmtree(data, ignore_errors=True)
        print(f"size {args.size}, {args.rounds} rounds, {args.seconds:.0f} s runs, c = 1, host {HOST}")
        print(f"load average (1 min) after each server: {', '.join(f'{x:.1f}' for x in loads)}")
        print("| tree | scenario | median (p50 ms, or decisions/s) | runs |")
        print("|---|---|---|---|")
        for (name, scenario), values in p50.items():
            runs = ", ".join(f"{v:.2f}" for v in values)
            print(f"| {name} | {scenario} | {statistics.median(values):.2f} | {runs} |")
    finally:
        registry.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
