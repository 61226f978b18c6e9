"""The guardrail component the server holds: current rules, checks with audit, reload.

Lifecycle: the constructor loads every rule and raises GuardrailError if anything is broken, so a
server never starts with a policy it cannot enforce. After that, `reload()` (on SIGHUP, wired by
the server, or from the file watcher in `cstp.runtime.guardrail_watcher`) swaps in a new RuleSet
only if the whole set loads; a broken edit keeps the last good set, and `status()` reports the
error until a later reload succeeds.

Circuit breakers configured in the same files are enforced by the same `check` (see
`breaker_gate`), when the service is given the shared `BreakerStore`; `breakers` is then the
`CircuitBreakers` the breaker methods use. Without a store, configured breakers are listed in the
log as not enforced.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cstp.domain.breakers.service import CircuitBreakers
from cstp.domain.errors import GuardrailError
from cstp.domain.guardrails import breaker_gate
from cstp.domain.guardrails.action import ActionContext
from cstp.domain.guardrails.engine import Finding, Verdict, evaluate, evaluate_record
from cstp.domain.guardrails.loader import discover, fingerprint, load_rules
from cstp.domain.guardrails.rules import CompiledRule, RuleSet
from cstp.domain.ports import BreakerStore

AUDIT_LOGGER = "cstp.guardrails.audit"
_MAX_REPORTED = 1024  # distinct (rule, error) pairs logged at WARNING before falling to DEBUG


class GuardrailService:
    """Loads guardrails, evaluates actions against them and reloads them on request.

    Thread safety: checks run on many request threads at once. The current rules are one
    immutable RuleSet in `_rules`, read once per check and replaced whole by `reload()`, so a
    check never sees half of the old rules and half of the new ones. Reloads are serialised by
    `_reload_lock`. `_reported` (which CEL failures were already logged at WARNING) is read and
    updated under `_reported_lock`.
    """

    def __init__(
        self,
        dirs: Sequence[Path],
        *,
        include_packaged: bool = True,
        breaker_store: BreakerStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dirs = tuple(Path(d) for d in dirs)
        self._include_packaged = include_packaged
        self._log = logging.getLogger("cstp.guardrails")
        self._audit = logging.getLogger(AUDIT_LOGGER)
        self._reload_lock = threading.Lock()
        self._reported_lock = threading.Lock()
        self._rules: RuleSet = load_rules(self.dirs, include_packaged=include_packaged)
        self._seen_fingerprint: str | None = self._rules.fingerprint
        self._last_reload = _now()
        self._last_error: dict[str, Any] | None = None
        self._reported: set[tuple[str, str]] = set()
        self._log.info("guardrails loaded: %d rules from %d files", len(self._rules), len(self._rules.files))
        self.breakers: CircuitBreakers | None = None
        if breaker_store is not None:
            self.breakers = CircuitBreakers(breaker_store, lambda: self._rules.breakers, clock=clock)
        elif self._rules.breakers:
            self._log.warning("%d circuit breakers configured but not enforced", len(self._rules.breakers))

    def check(self, action: ActionContext | Mapping[str, Any], agent_id: str) -> Verdict:
        """checkGuardrails: evaluate `action` and write one audit line for `agent_id`."""
        ctx = action if isinstance(action, ActionContext) else ActionContext.from_action(action)
        rules = self._rules
        verdict = evaluate(rules, ctx)
        if rules.breakers and self.breakers is not None:
            verdict = breaker_gate.gate(verdict, ctx, agent_id, self.breakers)
        self._report(verdict, agent_id, ctx.phase)
        return verdict

    def check_record(self, action: ActionContext, agent_id: str) -> tuple[Finding, ...]:
        """recordDecision: evaluate in the record phase. Every finding comes back as a warning,
        blocking ones included (the decision is already made), for `guardrail_warnings`."""
        verdict = evaluate_record(self._rules, action)
        self._report(verdict, agent_id, "record")
        return verdict.warnings

    def rules_in_scope(self, scope: str | None = None) -> tuple[CompiledRule, ...]:
        """listGuardrails: every rule, or the rules for `scope` plus the unscoped ones."""
        return tuple(r for r in self._rules if scope is None or not r.scope or scope in r.scope)

    def reload(self) -> bool:
        """Load every file again; install the result only if all of it is valid. True on success.

        On failure the previous rules stay active, the error is logged at ERROR and kept for
        `status()` until a later reload succeeds."""
        with self._reload_lock:
            try:
                self._seen_fingerprint = self._current_fingerprint()
                rules = load_rules(self.dirs, include_packaged=self._include_packaged)
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
            with self._reported_lock:
                self._reported.clear()
            self._log.info("guardrails reloaded: %d rules from %d files", len(rules), len(rules.files))
            return True

    def reload_if_changed(self) -> bool | None:
        """Reload only if the rule files' fingerprint (paths, sizes, mtimes) differs from the one
        seen at the last (re)load, so file-system noise costs no reload. None: nothing changed."""
        if self._current_fingerprint() == self._seen_fingerprint:
            return None
        return self.reload()

    def status(self) -> dict[str, Any]:
        """Readiness details: what is loaded, from where, and the last reload error if any."""
        rules = self._rules
        return {
            "loaded": len(rules),
            "breakers": len(rules.breakers),
            "files": [str(f) for f in rules.files],
            "last_error": dict(self._last_error) if self._last_error else None,
            "last_reload": self._last_reload,
        }

    def _current_fingerprint(self) -> str | None:
        try:
            files = discover(self.dirs, include_packaged=self._include_packaged)
        except GuardrailError:
            return None
        return fingerprint([f for f, _ in files])

    def _first_report(self, rule_id: str, error: str) -> bool:
        """Whether this (rule, error) pair is new; call with `_reported_lock` held."""
        key = (rule_id, error)
        if key in self._reported or len(self._reported) >= _MAX_REPORTED:
            return False
        self._reported.add(key)
        return True

    def _report(self, verdict: Verdict, agent_id: str, phase: str) -> None:
        """Log each CEL failure (WARNING the first time per rule and error, then DEBUG, so a rule
        failing on every request cannot flood the log) and write the check's one audit line."""
        if verdict.errors:
            with self._reported_lock:
                firsts = [self._first_report(f.guardrail_id, f.error) for f in verdict.errors]
            debug = self._log.isEnabledFor(logging.DEBUG)
            for failure, first in zip(verdict.errors, firsts, strict=True):
                if first or debug:
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


def _now() -> str:
    return datetime.now(UTC).isoformat()
