"""Keep every process's view of the circuit breakers fresh: a thread calling `refresh()`.

Checks read breaker state from a view in memory (`cstp.domain.breakers.service`), so that
`cstp.checkGuardrails` stays answerable on the event loop. This thread re-reads the shared log
every `interval` seconds, which bounds how long a breaker opened by another process goes unseen
here; it reads nothing while no breaker is configured.
"""

from __future__ import annotations

import logging
import threading

from cstp.domain.breakers.service import CircuitBreakers
from cstp.domain.errors import CstpError


class BreakerPoller:
    """Thread safety: `start()` and `stop()` are called by the thread owning the server's
    lifecycle; the poll thread only calls `breakers.refresh()`, which is thread-safe."""

    def __init__(self, breakers: CircuitBreakers, *, interval: float = 1.0) -> None:
        self._breakers = breakers
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = logging.getLogger("cstp.breakers")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="cstp-breakers-poll", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self._breakers.refresh()
                if failing:
                    self._log.info("circuit breaker state readable again")
                failing = False
            except CstpError:
                if not failing:  # once per outage, not once a second
                    self._log.warning(
                        "circuit breaker state unreadable; checks use the last view", exc_info=True
                    )
                failing = True
            self._stop.wait(self._interval)
