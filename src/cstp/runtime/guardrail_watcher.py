"""Reload guardrails when their files change: a watchfiles thread around `GuardrailService`.

The domain service knows how to reload (all or nothing, keep the last good set); this module only
decides when, so the domain stays free of threads and file-system events. Any change in a watched
directory counts, dot-files included, because Kubernetes ConfigMap updates arrive as a swap of the
`..data` link; the service's fingerprint of the rule files then filters out the noise.
"""

from __future__ import annotations

import logging
import threading

import watchfiles

from cstp.domain.guardrails import GuardrailService


class GuardrailWatcher:
    """A daemon thread that calls `service.reload_if_changed()` after each debounced batch of
    file events in the service's directories.

    Thread safety: `start()` and `stop()` are called by the one thread that owns the server's
    lifecycle; the watch thread only talks to the service, whose reload is thread-safe.
    """

    def __init__(self, service: GuardrailService, *, debounce_ms: int = 400) -> None:
        self._service = service
        self._debounce_ms = debounce_ms
        self._log = logging.getLogger("cstp.guardrails")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while the watch thread is alive (reported as `watching` in /ready)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start watching, unless already running or the service has no directory to watch."""
        if not self._service.dirs or self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="cstp-guardrails-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and wait for the thread (at most `timeout` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                for _changes in watchfiles.watch(
                    *self._service.dirs,
                    watch_filter=None,
                    debounce=self._debounce_ms,
                    step=50,
                    stop_event=self._stop,
                    recursive=False,
                    raise_interrupt=False,
                ):
                    self._service.reload_if_changed()
            except Exception:  # a watched directory vanished, inotify limits, ...
                self._log.exception("guardrail watcher failed; retrying in 2 s")
                self._stop.wait(2.0)
