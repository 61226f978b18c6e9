"""CSTP_WORKERS: several server processes on one listening socket, kept alive by a small supervisor.

Why not uvicorn's own `--workers` (`uvicorn.supervisors.Multiprocess`): it re-imports the app
from an import string in each spawned child (this server builds its app from settings), restarts
every worker on SIGHUP (here SIGHUP reloads the guardrails and must reach each worker as SIGHUP),
and its children bypass the cli's shutdown (exit 0 on a clean stop, the shutdown deadline). So
each worker here is a forked copy of the cli right after it checked the port, running exactly what
a single server process runs (`serve`), on a listening socket of its own (SO_REUSEPORT: the kernel
spreads new connections evenly over the workers; see `web.server.reserve`). When a worker dies,
the connections it had accepted and not answered are lost (their clients see the connection
close), new ones go to the others.

The supervisor:
- forks `count` workers. Each tells it through a pipe once it serves (`serve` gets the callback).
  A worker that exits before it served while no worker has served yet means the server cannot
  start (invalid settings: exit 2; a broken guardrail file: exit 1): every worker is stopped and
  the supervisor exits with that status, as a single server would. Any other exit while the
  supervisor is not stopping (a crash, an OOM kill) is logged and the worker replaced; a
  replacement that fails again before serving waits twice as long before the next try (from
  `RESTART_DELAY_S` up to `MAX_RESTART_DELAY_S`), so a persistent failure does not spin;
- forwards SIGTERM and SIGINT to every worker (each drains its in-flight requests as a single
  server does) and waits for them, up to the shutdown deadline plus `KILL_MARGIN_S`, then kills what
  is left; exits 0 when every worker stopped cleanly, 1 otherwise;
- forwards SIGHUP to every worker: each reloads its guardrails.

A worker gets SIGTERM if the supervisor dies (Linux `PR_SET_PDEATHSIG`), so a killed supervisor
leaves no worker holding the port. The supervisor never opens the store or the embedder: it waits
and forwards signals, and must have started no threads before forking.
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
MAX_RESTART_DELAY_S = 30.0
KILL_MARGIN_S = 5.0
_POLL_S = 0.05
_PR_SET_PDEATHSIG = 1
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

# What a worker runs: the server, calling its argument once it serves; returns the exit status.
Serve = Callable[[Callable[[], None]], int]


@dataclass
class _Worker:
    pid: int
    ready_fd: int  # read end of the worker's "serving" pipe
    serving: bool = False


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

    def __init__(self, count: int, serve: Serve, *, shutdown_timeout: float) -> None:
        self._count = count
        self._serve = serve
        self._stop_deadline_s = shutdown_timeout + KILL_MARGIN_S
        self._workers: dict[int, _Worker] = {}  # slot → worker
        self._pending: list[int] = []  # signals received, handled by the loop
        self._served = False  # some worker has served since the start

    def run(self) -> int:
        for sig in _FORWARDED:
            signal.signal(sig, lambda signum, frame: self._pending.append(signum))
        for slot in range(self._count):
            self._spawn(slot)
        logger.info("cstp workers started", extra={"workers": self._count, "supervisor_pid": os.getpid()})
        delay: dict[int, float] = {}  # slot → wait before its next restart
        restart_at: dict[int, float] = {}
        while True:
            for signum in self._take_signals():
                if signum == signal.SIGHUP:
                    logger.info("SIGHUP: forwarding to every worker")
                    self._signal_all(signal.SIGHUP)
                else:
                    return self._stop(signum)
            self._note_serving(delay)
            now = time.monotonic()
            for slot, worker, status in self._reap():
                code = os.waitstatus_to_exitcode(status)
                if not worker.serving and not self._served:
                    logger.error("a worker failed to start; stopping", extra={"exit_code": code})
                    self._stop(signal.SIGTERM)
                    return code if code in (1, 2) else 1
                wait = delay.get(slot, RESTART_DELAY_S) if not worker.serving else RESTART_DELAY_S
                delay[slot] = min(MAX_RESTART_DELAY_S, wait * 2)
                logger.warning(
                    "worker exited; restarting it",
                    extra={"slot": slot, "exit_code": code, "restart_in_s": wait},
                )
                restart_at[slot] = now + wait
            for slot, at in list(restart_at.items()):
                if now >= at:
                    self._spawn(slot)
                    del restart_at[slot]
            time.sleep(_POLL_S)

    # --- internals -------------------------------------------------------------------------------

    def _take_signals(self) -> list[int]:
        taken, self._pending[:] = list(self._pending), []
        return taken

    def _spawn(self, slot: int) -> None:
        parent = os.getpid()
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.close(read_fd)
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                # Until the app installs its SIGHUP handler (a reload), a forwarded SIGHUP must not
                # end the worker.
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                # Its own process group: a Ctrl-C at a terminal reaches the supervisor only, which
                # forwards it once (a second SIGINT would make uvicorn skip the graceful drain).
                os.setpgid(0, 0)
                _die_with_parent(parent)
                code = self._serve(lambda: _tell(write_fd))
            finally:
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        self._workers[slot] = _Worker(pid, read_fd)
        logger.info("worker started", extra={"slot": slot, "worker_pid": pid})

    def _note_serving(self, delay: dict[int, float]) -> None:
        for slot, worker in self._workers.items():
            if worker.serving:
                continue
            try:
                told = os.read(worker.ready_fd, 1)
            except BlockingIOError:
                continue
            if told:
                worker.serving = self._served = True
                delay.pop(slot, None)
                logger.info("worker serving", extra={"slot": slot, "worker_pid": worker.pid})

    def _reap(self) -> list[tuple[int, _Worker, int]]:
        """(slot, worker, wait status) of every worker that exited; they leave `_workers`."""
        done = []
        for slot, worker in list(self._workers.items()):
            try:
                pid, status = os.waitpid(worker.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = worker.pid, 0
            if pid:
                if not worker.serving:  # it may have served just before it exited
                    try:
                        worker.serving = bool(os.read(worker.ready_fd, 1))
                    except BlockingIOError:
                        pass
                os.close(worker.ready_fd)
                del self._workers[slot]
                done.append((slot, worker, status))
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
            for _, _, status in self._reap():
                failed |= os.waitstatus_to_exitcode(status) != 0
            if self._workers and time.monotonic() > deadline:
                logger.warning("workers still running past the shutdown deadline: killed")
                self._signal_all(signal.SIGKILL)
                deadline = float("inf")
                failed = True
            time.sleep(_POLL_S)
        return 1 if failed else 0


def _tell(fd: int) -> None:
    """The worker serves: one byte down its pipe (once)."""
    try:
        os.write(fd, b"1")
        os.close(fd)
    except OSError:
        pass
