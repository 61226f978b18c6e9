"""What deliberation capture costs a checkGuardrails call, in process, capture on against off.

    python -m bench.capture_cost [--checks 1000] [--rounds 10]      # CPU time per check
    python -m bench.capture_cost --callgrind [--checks 500]           # instructions per check

Both run the full app (`create_app` on the memory store, the packaged rules, the tracker in
process memory as with embedded Chroma) and send checkGuardrails bodies through the same
`Dispatcher` as the server: on, with the method table `all_methods()` builds; off, with
checkGuardrails and queryDecisions left out of `capture.OBSERVED`, the only difference.

The CPU-time mode interleaves on and off blocks of `--checks` calls and prints the median of each
block's thread CPU time per call: on a shared machine CPU time drifts much less than wall time,
but still some. `--callgrind` runs each mode in a child under valgrind with instrumentation
switched on only for the measured calls (after start-up and a warm-up): instruction counts do not
depend on the machine's load at all, and a difference of a few thousand instructions per call is
visible. It needs valgrind (`callgrind_control`), and takes about a minute per mode.
"""

from __future__ import annotations

import os

os.environ.update({"ORT_DISABLE_TELEMETRY": "1", "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"})

import argparse  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

from bench import datagen  # noqa: E402

WARM_UP = 200
OFF = ("cstp.checkGuardrails", "cstp.queryDecisions")


def _callers(work: Path) -> dict[str, Callable[[bytes], object]]:
    """mode → one checkGuardrails call through a Dispatcher on one running app."""
    from cstp.adapters.memory_store import MemoryStore
    from cstp.adapters.onnx_embedder import OnnxEmbedder
    from cstp.app import Adapters, all_methods, create_app
    from cstp.methods import capture
    from cstp.methods.context import CallContext
    from cstp.methods.errors import ERRORS
    from cstp.rpc import Dispatcher
    from cstp.settings import Settings

    embedder = OnnxEmbedder()
    settings = Settings(
        data_dir=work / "data", auth_tokens="bench:capture-cost-0123456789", guardrails_watch=False
    )
    app = create_app(settings, adapters=Adapters(MemoryStore(embedder.space), embedder))
    ctx = CallContext("bench", app.state.services)
    on = Dispatcher(all_methods(), ERRORS)
    observed = dict(capture.OBSERVED)
    capture.OBSERVED = {k: v for k, v in observed.items() if k not in OFF}
    try:
        off = Dispatcher(all_methods(), ERRORS)
    finally:
        capture.OBSERVED = observed
    return {"on": lambda b: on.dispatch(b, ctx), "off": lambda b: off.dispatch(b, ctx)}


def _bodies() -> list[bytes]:
    actions = [{"description": q, "category": "process", "stakes": "medium"} for q in datagen.QUERIES]
    return [
        datagen.rpc_body("cstp.checkGuardrails", {"action": a}, i).encode() for i, a in enumerate(actions)
    ]


def _cpu_time(checks: int, rounds: int) -> None:
    bodies = _bodies()
    with tempfile.TemporaryDirectory() as tmp:
        callers = _callers(Path(tmp))
        for call in callers.values():
            for i in range(WARM_UP):
                call(bodies[i % len(bodies)])
        per_call: dict[str, list[float]] = {mode: [] for mode in callers}
        for r in range(rounds):
            modes = list(callers) if r % 2 == 0 else list(reversed(callers))
            for mode in modes:
                call = callers[mode]
                started = time.thread_time()
                for i in range(checks):
                    call(bodies[i % len(bodies)])
                per_call[mode].append((time.thread_time() - started) / checks * 1e6)
    print(f"{rounds} rounds of {checks} checks, load average {os.getloadavg()[0]:.1f}")
    for mode, values in per_call.items():
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"capture {mode}: {statistics.median(values):.1f} µs CPU per check (median; {runs})")
    on, off = (statistics.median(per_call[m]) for m in ("on", "off"))
    print(f"on ÷ off: {on / off:.3f} ({on - off:+.1f} µs)")


def _child(mode: str, checks: int, flag: Path) -> None:
    """Under valgrind: set up, warm up, wait for instrumentation to be switched on, run."""
    bodies = _bodies()
    with tempfile.TemporaryDirectory() as tmp:
        call = _callers(Path(tmp))[mode]
        for i in range(WARM_UP):
            call(bodies[i % len(bodies)])
        print("ready", flush=True)
        while not flag.exists():
            time.sleep(0.05)
        for i in range(checks):
            call(bodies[i % len(bodies)])


def _instructions(mode: str, checks: int, work: Path) -> int:
    flag, out = work / f"go-{mode}", work / f"callgrind-{mode}.out"
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "bench.capture_cost",
        "--child",
        mode,
        "--checks",
        str(checks),
        "--flag",
        str(flag),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None and child.stderr is not None
    if child.stdout.readline().strip() != "ready":
        raise SystemExit(f"{mode}: the child did not start: {child.stderr.read()[-500:]}")
    subprocess.run(["callgrind_control", "-i", "on", str(child.pid)], check=True, capture_output=True)
    flag.touch()
    _, err = child.communicate()
    found = re.search(r"Collected : (\d+)", err)
    if child.returncode != 0 or found is None:
        raise SystemExit(f"{mode}: valgrind failed ({child.returncode}): {err[-500:]}")
    return int(found.group(1))


def _callgrind(checks: int) -> None:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("--callgrind needs valgrind")
    with tempfile.TemporaryDirectory() as tmp:
        counts = {mode: _instructions(mode, checks, Path(tmp)) / checks for mode in ("off", "on")}
    for mode, n in counts.items():
        print(f"capture {mode}: {n:,.0f} instructions per check ({checks} checks)")
    print(f"on ÷ off: {counts['on'] / counts['off']:.4f} ({counts['on'] - counts['off']:+,.0f} per check)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checks", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--callgrind", action="store_true", help="instruction counts under valgrind instead")
    p.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    p.add_argument("--flag", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args.child, args.checks, args.flag)
    elif args.callgrind:
        _callgrind(args.checks)
    else:
        _cpu_time(args.checks, args.rounds)


if __name__ == "__main__":
    main()
