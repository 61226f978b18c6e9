"""Circuit-breaker configuration: the `circuit_breakers:` list of a guardrail YAML file.

The form is the reference server's (`guardrails/circuit_breakers.yaml`):

    circuit_breakers:
      - scope: stakes:high          # global | category:<v> | stakes:<v> | agent:<v> | tag:<v>
        failure_threshold: 3        # failures inside the window that open the breaker (default 5)
        window_ms: 86400000         # sliding window (default 1 h)
        cooldown_ms: 3600000        # time open before a probe is let through (default 30 min)
        notify: true                # write transitions to the audit log (default true)

Unlike the reference, which read this file only from two fixed directories and swallowed every
error, it is read from every GUARDRAILS_PATHS directory by the guardrail loader, a reload updates
it, and a broken item (unknown key, bad scope, non-positive number, duplicate scope) is a load
error naming the file, just like a broken rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cstp.domain.errors import GuardrailError

DIMENSIONS = ("category", "stakes", "agent", "tag")
DEFAULT_THRESHOLD = 5
DEFAULT_WINDOW_MS = 3_600_000
DEFAULT_COOLDOWN_MS = 1_800_000
_KEYS = frozenset({"scope", "failure_threshold", "window_ms", "cooldown_ms", "notify"})


@dataclass(frozen=True, slots=True)
class Subject:
    """What a scope is matched against: a checked action, or a reviewed decision.

    `agent` is the authenticated caller for a check and the recording agent for a review (the
    reference matched `agent:` scopes against a context key checkGuardrails never set, so they
    never blocked anything)."""

    category: str | None
    stakes: str | None
    agent: str | None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """One configured breaker. Immutable; part of the guardrails `RuleSet`."""

    scope: str
    failure_threshold: int = DEFAULT_THRESHOLD
    window_ms: int = DEFAULT_WINDOW_MS
    cooldown_ms: int = DEFAULT_COOLDOWN_MS
    notify: bool = True
    file: str = ""

    def matches(self, subject: Subject) -> bool:
        """Whether this breaker's scope covers `subject`."""
        if self.scope == "global":
            return True
        dimension, value = self.scope.split(":", 1)
        if dimension == "tag":
            return value in subject.tags
        actual = {"category": subject.category, "stakes": subject.stakes, "agent": subject.agent}[dimension]
        return actual == value


def parse_breakers(data: Mapping[str, Any], file: str) -> list[BreakerConfig]:
    """The breakers of one file's top-level `{circuit_breakers: [...]}` map. Raises GuardrailError."""
    extra = sorted(str(k) for k in data if k != "circuit_breakers")
    if extra:
        raise _error(f"unknown top-level key {extra[0]!r} beside circuit_breakers", file)
    items = data["circuit_breakers"]
    if items is None:
        return []
    if not isinstance(items, list):
        raise _error(f"circuit_breakers must be a list of maps, not a {type(items).__name__}", file)
    configs: list[BreakerConfig] = []
    seen: set[str] = set()
    for index, item in enumerate(items, start=1):
        config = _parse_item(item, index, file)
        if config.scope in seen:
            raise _error(f"circuit breaker {index}: duplicate scope {config.scope!r}", file)
        seen.add(config.scope)
        configs.append(config)
    return configs


def check_unique(configs: Sequence[BreakerConfig]) -> None:
    """Refuse one scope configured in two files (which thresholds would apply is not obvious)."""
    first: dict[str, BreakerConfig] = {}
    for config in configs:
        previous = first.setdefault(config.scope, config)
        if previous is not config:
            raise _error(
                f"circuit breaker scope {config.scope!r} is also configured in {previous.file}", config.file
            )


def _parse_item(item: Any, index: int, file: str) -> BreakerConfig:
    where = f"circuit breaker {index}"
    if not isinstance(item, dict):
        raise _error(f"{where} is a {type(item).__name__}, not a map", file)
    unknown = sorted(str(k) for k in item if k not in _KEYS)
    if unknown:
        raise _error(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})", file)
    scope = item.get("scope")
    if not isinstance(scope, str) or not scope.strip():
        raise _error(f"{where}: scope is required (global or <dimension>:<value>)", file)
    scope = scope.strip()
    _check_scope(scope, where, file)
    notify = item.get("notify", True)
    if not isinstance(notify, bool):
        raise _error(f"{where}: notify must be true or false", file)
    return BreakerConfig(
        scope=scope,
        failure_threshold=_positive(item, "failure_threshold", DEFAULT_THRESHOLD, where, file),
        window_ms=_positive(item, "window_ms", DEFAULT_WINDOW_MS, where, file),
        cooldown_ms=_positive(item, "cooldown_ms", DEFAULT_COOLDOWN_MS, where, file),
        notify=notify,
        file=file,
    )


def _check_scope(scope: str, where: str, file: str) -> None:
    if scope == "global":
        return
    dimension, sep, value = scope.partition(":")
    if not sep or dimension not in DIMENSIONS or not value:
        raise _error(
            f"{where}: scope {scope!r} must be global or one of "
            + ", ".join(f"{d}:<value>" for d in DIMENSIONS),
            file,
        )


def _positive(item: Mapping[str, Any], key: str, default: int, where: str, file: str) -> int:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _error(f"{where}: {key} must be a positive integer, not {value!r}", file)
    return value


def _error(message: str, file: str) -> GuardrailError:
    return GuardrailError(message, code="invalid_breaker", file=file)
