"""CSTP_WORKERS: several server processes on one listening socket, kept alive by a small supervisor.

Why not uvicorn's own `--workers` (`uvicorn.supervisors.Multiprocess`): it re-imports the app
from an import string in each spawned child (this server builds its app from settings), restarts
every worker on SIGHUP (here SIGHUP reloads the guardrails and must reach each worker as SIGHUP),
and its children bypass the cli's shutdown (exit 0 on a clean stop, the shutdown deadline). So
each worker here is a forked copy of the cli right after it bound the port, running exactly what
a single server process runs (`serve`); the kernel spreads the connections accepted on the shared
socket over the workers.

The supervisor:
- forks `count` workers; a worker that exits while the supervisor is not stopping is replaced
  (at most one restart per slot every `RESTART_DELAY_S`), unless it exited with 2 (the settings are
  invalid: every worker would fail alike) or exited non-zero within `STARTUP_S` of its start before
  any other worker got past that (the app cannot start); then every worker is stopped and the
  supervisor exits with that status;
- forwards SIGTERM and SIGINT to every worker (each drains its in-flight requests as a single
  server does) and waits for them, up to the shutdown deadline plus a margin, then kills what is
  left; exits 0 when every worker stopped cleanly;
- forwards SIGHUP to every worker: each reloads its guardrails.

A worker gets SIGTERM if the supervisor dies (Linux `PR_SET_PDEATHSIG`), so a killed supervisor
leaves no worker holding the port. The supervisor itself never opens the store or the embedder:
it only waits and forwards signals, and must have started no threads before forking.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("cstp.workers")

RESTART_DELAY_S = 1.0
STARTUP_S = 10.0
KILL_MARGIN_S = 5.0
_POLL_S = 0.05
_PR_SET_PDEATHSIG = 1
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass
class _Worker:
    pid: int
    started: float


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGTERM when the supervisor exits (Linux); no-op elsewhere."""
    if sys.platform.startswith("linux"):
        name = ctypes.util.find_library("c")
        if name:
            try:
                ctypes.CDLL(name).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            except (OSError, AttributeError):
                pass
    if os.getppid() != parent:  # the supervisor died before the request took effect
        os._exit(0)


class Supervisor:
    """Runs `serve` in `count` forked workers until SIGTERM/SIGINT. Not thread-safe: one per process,
    run from the main thread (signal handlers)."""

    def __init__(self, count: int, serve: Callable[[], int], *, shutdown_timeout: float) -> None:
        self._count = count
        self._serve = serve
        self._stop_deadline_s = shutdown_timeout + KILL_MARGIN_S
        self._workers: dict[int, _Worker] = {}  # slot → worker
        self._pending: list[int] = []  # signals received, handled by the loop
        self._settled = False  # some worker outlived STARTUP_S: a later failure is a crash

    def run(self) -> int:
        for sig in _FORWARDED:
            signal.signal(sig, lambda signum, frame: self._pending.append(signum))
        for slot in range(self._count):
            self._spawn(slot)
        logger.info("cstp workers started", extra={"workers": self._count, "supervisor_pid": os.getpid()})
        restart_at: dict[int, float] = {}
        while True:
            for signum in self._take_signals():
                if signum == signal.SIGHUP:
                    logger.info("SIGHUP: forwarding to every worker")
                    self._signal_all(signal.SIGHUP)
                else:
                    return self._stop(signum)
            now = time.monotonic()
            if not self._settled and any(now - w.started >= STARTUP_S for w in self._workers.values()):
                self._settled = True
            for slot, status in self._reap():
                code = os.waitstatus_to_exitcode(status)
                worker_age = now - self._workers.pop(slot).started
                if code == 2 or (code != 0 and not self._settled and worker_age < STARTUP_S):
                    logger.error("a worker failed to start; stopping", extra={"exit_code": code})
                    self._stop(signal.SIGTERM)
                    return 2 if code == 2 else 1
                logger.warning("worker exited; restarting it", extra={"slot": slot, "exit_code": code})
                restart_at[slot] = max(now, restart_at.get(slot, 0.0) + RESTART_DELAY_S)
            for slot, at in list(restart_at.items()):
                if slot not in self._workers and now >= at:
                    self._spawn(slot)
                    del restart_at[slot]
            time.sleep(_POLL_S)

    # --- internals -------------------------------------------------------------------------------

    def _take_signals(self) -> list[int]:
        taken, self._pending[:] = list(self._pending), []
        return taken

    def _spawn(self, slot: int) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                # Until the app installs its SIGHUP handler (a reload), a forwarded SIGHUP must not
                # end the worker.
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                _die_with_parent(parent)
                code = self._serve()
            finally:
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self._workers[slot] = _Worker(pid, time.monotonic())
        logger.info("worker started", extra={"slot": slot, "worker_pid": pid})

    def _reap(self) -> list[tuple[int, int]]:
        """(slot, wait status) of every worker that exited."""
        done = []
        for slot, worker in list(self._workers.items()):
            try:
                pid, status = os.waitpid(worker.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = worker.pid, 0
            if pid:
                done.append((slot, status))
        return done

    def _signal_all(self, signum: int) -> None:
        for worker in self._workers.values():
            try:
                os.kill(worker.pid, signum)
            except ProcessLookupError:
                pass

    def _stop(self, signum: int) -> int:
        """Forward `signum`, wait for every worker; 0 if all of them stopped cleanly."""
        logger.info("stopping workers", extra={"signal": signal.Signals(signum).name})
        self._signal_all(signum)
        deadline = time.monotonic() + self._stop_deadline_s
        failed = False
        while self._workers:
            for slot, status in self._reap():
                del self._workers[slot]
                failed |= os.waitstatus_to_exitcode(status) != 0
            if self._workers and time.monotonic() > deadline:
                logger.warning("workers still running past the shutdown deadline: killed")
                self._signal_all(signal.SIGKILL)
                deadline = float("inf")
                failed = True
            time.sleep(_POLL_S)
        return 1 if failed else 0
