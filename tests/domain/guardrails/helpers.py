"""Guardrail test helpers: compile rules inline, write rule files, check actions; rule_dir fixture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cstp.domain.guardrails import ActionContext, RuleSet, Verdict, compile_rule, evaluate


def rules(*raws: dict[str, Any]) -> RuleSet:
    """A RuleSet from rule maps, as if read from `test.yaml`."""
    return RuleSet(tuple(compile_rule(raw, "test.yaml") for raw in raws))


def check(ruleset: RuleSet, **action: Any) -> Verdict:
    """Evaluate a checkGuardrails-style action (description defaults to "something")."""
    action.setdefault("description", "something")
    return evaluate(ruleset, ActionContext.from_action(action))


def triggered(ruleset: RuleSet, **action: Any) -> list[str]:
    """Ids of every rule that fired (violations first, then warnings)."""
    verdict = check(ruleset, **action)
    return [f.guardrail_id for f in (*verdict.violations, *verdict.warnings)]


@pytest.fixture
def rule_dir(tmp_path: Path) -> Path:
    """An empty directory for rule files."""
    path = tmp_path / "rules"
    path.mkdir()
    return path


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path
