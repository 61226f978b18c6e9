"""Drain on SIGTERM: stop being ready first, stop serving later.

A load balancer routes to a process until its health check fails. If SIGTERM closed the listener
at once (uvicorn's behaviour), every request the balancer sent in the second or two before it
noticed would be refused or cut. So on SIGTERM the process first turns `/ready` into 503 and keeps
serving everything for `CSTP_SHUTDOWN_DRAIN_S` seconds, long enough for a balancer checking every
second to take it out of rotation (HAProxy in docker/haproxy/haproxy.cfg: `inter 1s fall 2`, so at
most about 2 s). Only then does the usual graceful stop run: the listener closes, in-flight
requests get `CSTP_SHUTDOWN_TIMEOUT`, the components close (cli.py).

SIGINT (Ctrl-C), a second SIGTERM during the drain, or a drain of 0 stop without waiting, as
before. docs/SCALING.md explains how the two timings relate to the balancer's.

Thread safety: `Drain` is one flag, set once by the main thread's signal handler (a plain
attribute write, no lock a signal could interrupt) and read by request handlers on any thread.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from types import FrameType

import uvicorn

from cstp.web.server import NotifyingServer

logger = logging.getLogger("cstp")


class Drain:
    """Whether this process is draining: `/ready` answers 503 while it is."""

    def __init__(self) -> None:
        self._draining = False

    def begin(self) -> None:
        self._draining = True

    @property
    def draining(self) -> bool:
        return self._draining


class DrainingServer(NotifyingServer):
    """uvicorn's server (which tells a CSTP_WORKERS supervisor once it serves), with a drain
    period between SIGTERM and the graceful stop.

    uvicorn calls `handle_exit` from its signal handler and `on_tick` every 0.1 s from its main
    loop; the drain sets a deadline in the first and acts on it in the second, so nothing
    asynchronous runs inside a signal handler.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        drain: Drain,
        seconds: float,
        on_serving: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config, on_serving)
        self._drain = drain
        self._seconds = seconds
        self._stop_at: float | None = None
        self._announced = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first_term = sig == signal.SIGTERM and self._stop_at is None and not self.should_exit
        if first_term and self._seconds > 0:
            self._stop_at = time.monotonic() + self._seconds
            self._drain.begin()
            return
        self._drain.begin()
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._stop_at is not None:
            if not self._announced:
                self._announced = True
                logger.info(
                    "SIGTERM: draining (/ready answers 503, requests are still served)",
                    extra={"drain_seconds": self._seconds},
                )
            if time.monotonic() >= self._stop_at:
                self.should_exit = True
        return await super().on_tick(counter)
