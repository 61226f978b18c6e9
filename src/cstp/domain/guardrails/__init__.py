"""Guardrails: YAML policy rules checked before (and after) an agent decides.

Shaped like OPA: `loader` does the I/O and fails fast, `rules` (with `conditions` and `cel`)
validates and compiles each rule once, `action` is the schema of the action rules see,
`engine.evaluate` is pure, and `service` holds the current rules for the server (audit log,
reload). docs/GUARDRAILS.md describes the file format.
"""

from cstp.domain.guardrails.action import ActionContext
from cstp.domain.guardrails.engine import (
    Finding,
    RuleFailure,
    Verdict,
    evaluate,
    evaluate_record,
)
from cstp.domain.guardrails.loader import load_rules, packaged_dir
from cstp.domain.guardrails.rules import CompiledRule, RuleSet, compile_rule
from cstp.domain.guardrails.service import GuardrailService

__all__ = [
    "ActionContext",
    "CompiledRule",
    "Finding",
    "GuardrailService",
    "RuleFailure",
    "RuleSet",
    "Verdict",
    "compile_rule",
    "evaluate",
    "evaluate_record",
    "load_rules",
    "packaged_dir",
]
