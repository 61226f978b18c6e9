"""The guardrail component the server holds: current rules, checks with audit, reload, watching.

Lifecycle: the constructor loads every rule and raises GuardrailError if anything is broken, so a
server never starts with a policy it cannot enforce. After that, `reload()` (on SIGHUP, wired by
the server, or from the file watcher) swaps in a new RuleSet only if the whole set loads; a broken
edit keeps the last good set, and `status()` reports the error until a later reload succeeds.

The current RuleSet is one immutable object held in one attribute: a check reads it once, so a
concurrent reload can never show a check half of the old rules and half of the new ones.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import watchfiles

from cstp.domain.errors import GuardrailError
from cstp.domain.guardrails.action import ActionContext
from cstp.domain.guardrails.engine import Finding, Verdict, evaluate, evaluate_record
from cstp.domain.guardrails.loader import discover, fingerprint, load_rules
from cstp.domain.guardrails.rules import CompiledRule, RuleSet

AUDIT_LOGGER = "cstp.guardrails.audit"
_MAX_REPORTED = 1024  # distinct (rule, error) pairs logged at WARNING before falling to DEBUG


class GuardrailService:
    """Loads guardrails, evaluates actions against them and keeps them current."""

    def __init__(
        self,
        dirs: Sequence[Path],
        watch: bool = False,
        logger: logging.Logger | None = None,
        *,
        include_packaged: bool = True,
        debounce_ms: int = 400,
    ) -> None:
        self._dirs = [Path(d) for d in dirs]
        self._include_packaged = include_packaged
        self._watch_enabled = watch
        self._debounce_ms = debounce_ms
        self._log = logger or logging.getLogger("cstp.guardrails")
        self._audit = logging.getLogger(AUDIT_LOGGER)
        self._reload_lock = threading.Lock()
        self._rules: RuleSet = load_rules(self._dirs, include_packaged=include_packaged)
        self._seen_fingerprint: str | None = self._rules.fingerprint
        self._last_reload = _now()
        self._last_error: dict[str, Any] | None = None
        self._reported: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log.info("guardrails loaded: %d rules from %d files", len(self._rules), len(self._rules.files))

    @property
    def rules(self) -> RuleSet:
        """The current rule set (replaced as a whole on reload)."""
        return self._rules

    def check(self, action: ActionContext | Mapping[str, Any], agent_id: str) -> Verdict:
        """checkGuardrails: evaluate `action` and write one audit line for `agent_id`."""
        ctx = action if isinstance(action, ActionContext) else ActionContext.from_action(action)
        verdict = evaluate(self._rules, ctx)
        self._after(verdict, agent_id, ctx.phase)
        return verdict

    def check_record(self, action: ActionContext, agent_id: str) -> tuple[Finding, ...]:
        """recordDecision: evaluate in the record phase. Every finding comes back as a warning,
        blocking ones included (the decision is already made), for `guardrail_warnings`."""
        verdict = evaluate_record(self._rules, action)
        self._after(verdict, agent_id, "record")
        return verdict.warnings

    def reload(self) -> bool:
        """Load every file again; install the result only if all of it is valid. True on success.

        On failure the previous rules stay active, the error is logged at ERROR and kept for
        `status()` until a later reload succeeds."""
        with self._reload_lock:
            try:
                self._seen_fingerprint = self._current_fingerprint()
                rules = load_rules(self._dirs, include_packaged=self._include_packaged)
            except GuardrailError as e:
                self._last_error = {
                    "file": e.file,
                    "rule_id": e.rule_id,
                    "code": e.code,
                    "message": str(e),
                    "at": _now(),
                }
                self._log.error("guardrail reload failed, keeping %d rules in force: %s", len(self._rules), e)
                return False
            self._rules = rules
            self._last_error = None
            self._last_reload = _now()
            self._reported.clear()
            self._log.info("guardrails reloaded: %d rules from %d files", len(rules), len(rules.files))
            return True

    def status(self) -> dict[str, Any]:
        """Readiness details: what is loaded, from where, and the last reload error if any."""
        rules = self._rules
        return {
            "loaded": len(rules),
            "files": [str(f) for f in rules.files],
            "last_error": dict(self._last_error) if self._last_error else None,
            "last_reload": self._last_reload,
            "watching": self._thread is not None and self._thread.is_alive(),
        }

    def start(self) -> None:
        """Start the file watcher (a daemon thread) if watching is on and there is a directory."""
        if not self._watch_enabled or not self._dirs:
            return
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch_loop, name="cstp-guardrails-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the file watcher and wait for it (at most `timeout` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _watch_loop(self) -> None:
        # Any change in a watched directory counts, dot-files included: Kubernetes ConfigMap
        # updates arrive as a swap of the `..data` link. The fingerprint filters out noise.
        while not self._stop.is_set():
            try:
                for _changes in watchfiles.watch(
                    *self._dirs,
                    watch_filter=None,
                    debounce=self._debounce_ms,
                    step=50,
                    stop_event=self._stop,
                    recursive=False,
                    raise_interrupt=False,
                ):
                    if self._current_fingerprint() != self._seen_fingerprint:
                        self.reload()
            except Exception:  # a watched directory vanished, inotify limits, ...
                self._log.exception("guardrail watcher failed; retrying in 2 s")
                self._stop.wait(2.0)

    def _current_fingerprint(self) -> str | None:
        try:
            files = discover(self._dirs, include_packaged=self._include_packaged)
        except GuardrailError:
            return None
        return fingerprint([f for f, _ in files])

    def _after(self, verdict: Verdict, agent_id: str, phase: str) -> None:
        for failure in verdict.errors:
            key = (failure.guardrail_id, failure.error)
            first = key not in self._reported and len(self._reported) < _MAX_REPORTED
            if first:
                self._reported.add(key)
            self._log.log(
                logging.WARNING if first else logging.DEBUG,
                "guardrail %s not evaluated (fails open): %s",
                failure.guardrail_id,
                failure.error,
            )
        self._audit.info(
            json.dumps(
                {
                    "event": "guardrails.check",
                    "agent": agent_id,
                    "phase": phase,
                    "allowed": verdict.allowed,
                    "violations": [f.guardrail_id for f in verdict.violations],
                    "warnings": [f.guardrail_id for f in verdict.warnings],
                    "errors": [f.guardrail_id for f in verdict.errors],
                    "evaluated": verdict.evaluated,
                }
            )
        )

    def rules_in_scope(self, scope: str | None = None) -> tuple[CompiledRule, ...]:
        """listGuardrails: every rule, or the rules for `scope` plus the unscoped ones."""
        return tuple(r for r in self._rules if scope is None or not r.scope or scope in r.scope)


def _now() -> str:
    return datetime.now(UTC).isoformat()
