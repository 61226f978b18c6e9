"""Circuit breakers: repeated reviewed failures in a scope stop further actions there for a while.

`config` parses the `circuit_breakers:` YAML form (read by the guardrail loader), `state` derives
a breaker's state from its shared event log (pure), and `service.CircuitBreakers` holds the view
of that log that `GuardrailService.check` consults. docs/GUARDRAILS.md describes the behaviour.
"""

from cstp.domain.breakers.config import BreakerConfig, Subject, parse_breakers
from cstp.domain.breakers.state import BreakerEvent, BreakerState, fold

__all__ = ["BreakerConfig", "BreakerEvent", "BreakerState", "Subject", "fold", "parse_breakers"]
