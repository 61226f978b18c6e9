"""evaluate(): scopes, block vs warn, the findings, the record phase, many rules."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cstp.domain.errors import InvalidInput
from cstp.domain.guardrails import ActionContext, Finding, RuleSet, evaluate, evaluate_record
from tests.domain.guardrails.helpers import check, rules, triggered

SCOPED = {"id": "scoped", "scope": ["CryptoTrader", "Other"], "condition_stakes": "high"}


def test_scope_matches_the_project() -> None:
    assert triggered(rules(SCOPED), stakes="high", project="CryptoTrader") == ["scoped"]


def test_scope_matches_a_scope_key() -> None:
    assert triggered(rules(SCOPED), stakes="high", context={"scope": "Other"}) == ["scoped"]


def test_scope_mismatch_skips_the_rule() -> None:
    assert triggered(rules(SCOPED), stakes="high", project="Elsewhere") == []


def test_scoped_rules_apply_when_the_action_names_no_project() -> None:
    assert triggered(rules(SCOPED), stakes="high") == ["scoped"]


def test_unscoped_rules_apply_to_every_project() -> None:
    assert triggered(rules({"id": "all"}), project="Elsewhere") == ["all"]


def test_scope_applies_to_cel_rules_too() -> None:
    ruleset = rules({"id": "cel", "scope": "A", "condition": "action.stakes == 'high'"})
    assert triggered(ruleset, stakes="high", project="A") == ["cel"]
    assert triggered(ruleset, stakes="high", project="B") == []


def test_block_is_a_violation_and_disallows() -> None:
    verdict = check(rules({"id": "b", "action": "block"}))
    assert not verdict.allowed
    assert [(f.guardrail_id, f.severity) for f in verdict.violations] == [("b", "block")]
    assert verdict.warnings == ()


def test_warn_is_a_warning_and_allows() -> None:
    verdict = check(rules({"id": "w", "action": "warn"}))
    assert verdict.allowed
    assert [(f.guardrail_id, f.severity) for f in verdict.warnings] == [("w", "warn")]


def test_other_actions_are_warnings_with_that_severity() -> None:
    verdict = check(rules({"id": "l", "action": "log"}))
    assert verdict.allowed and verdict.warnings[0].severity == "log"


def test_evaluated_counts_every_loaded_rule() -> None:
    ruleset = rules({"id": "a", "condition_stakes": "high"}, {"id": "b", "scope": "X"})
    assert check(ruleset, project="Y").evaluated == 2


def test_empty_rule_set_allows() -> None:
    verdict = check(RuleSet())
    assert (verdict.allowed, verdict.violations, verdict.warnings, verdict.evaluated) == (True, (), (), 0)


def test_findings_carry_id_name_message_severity_and_suggestion() -> None:
    ruleset = rules(
        {"id": "b", "description": "Blocker", "action": "block", "message": "no", "suggestion": "wait"},
        {"id": "w", "message": "hm"},
    )
    verdict = check(ruleset)
    assert not verdict.allowed and verdict.evaluated == 2
    assert verdict.violations == (Finding("b", "Blocker", "no", "block", "wait"),)
    assert verdict.warnings == (Finding("w", "w", "hm", "warn", None),)


def test_missing_description_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as e:
        ActionContext.from_action({"stakes": "high"})
    assert e.value.field == "action.description"


def record(**overrides: Any) -> ActionContext:
    values: dict[str, Any] = {
        "description": "d",
        "category": "process",
        "stakes": "high",
        "confidence": 0.3,
        "quality_score": 0.4,
    }
    values.update(overrides)
    return ActionContext.for_record(**values)


def test_record_phase_never_blocks() -> None:
    verdict = evaluate_record(rules({"id": "b", "action": "block"}), record())
    assert verdict.allowed and not verdict.violations
    assert verdict.warnings == (Finding("b", "b", "Guardrail b triggered", "block"),)


def test_record_phase_keeps_each_rules_severity() -> None:
    verdict = evaluate_record(rules({"id": "w", "message": "m"}, {"id": "l", "action": "log"}), record())
    assert [(f.guardrail_id, f.severity) for f in verdict.warnings] == [("w", "warn"), ("l", "log")]


def test_record_context_has_the_record_fields() -> None:
    ruleset = rules(
        {
            "id": "r",
            "condition_phase": "record",
            "condition_quality_score": "< 0.5",
            "condition_description": "d",
            "requires_has_deliberation": True,
        }
    )
    assert [f.guardrail_id for f in evaluate_record(ruleset, record()).warnings] == ["r"]
    assert evaluate_record(ruleset, record(has_deliberation=True)).warnings == ()


def test_record_phase_is_visible_to_cel() -> None:
    ruleset = rules(
        {
            "id": "r",
            "condition": "action.phase == 'record' && !action.has_reasoning"
            " && action.deliberation_inputs_count == 0",
        }
    )
    assert len(evaluate_record(ruleset, record()).warnings) == 1
    assert triggered(ruleset) == []


def test_record_project_is_matched_against_scopes() -> None:
    ruleset = rules({"id": "r", "scope": "A"})
    assert len(evaluate_record(ruleset, record(project="A")).warnings) == 1
    assert len(evaluate_record(ruleset, record(project="B")).warnings) == 0


def test_quality_score_is_absent_at_check_time() -> None:
    verdict = check(rules({"id": "r", "condition": {"quality_lt": 0.5}}))
    assert not verdict.warnings and verdict.errors


def test_two_hundred_mixed_rules_evaluate_correctly() -> None:
    rng = random.Random(11)
    cats = ["architecture", "process", "integration", "tooling", "security"]
    stakes_values = ["low", "medium", "high", "critical"]
    raws, expected = [], []
    action = {
        "category": "tooling",
        "stakes": "high",
        "confidence": 0.62,
        "tags": ["ci"],
        "project": "P1",
        "context": {"code_review": True},
    }
    for i in range(200):
        cat, stakes, threshold = rng.choice(cats), rng.choice(stakes_values), rng.random()
        scope = [f"P{i % 3}"] if i % 7 == 0 else []
        forms: list[dict[str, Any]] = [
            {
                "condition_category": cat,
                "condition_stakes": stakes,
                "condition_confidence": f"< {threshold:.3f}",
            },
            {
                "condition": f"action.category == '{cat}' && action.stakes == '{stakes}'"
                f" && action.confidence < {threshold:.3f}"
            },
            {"condition": {"category": cat, "stakes": stakes, "confidence_lt": round(threshold, 3)}},
            {"condition_category": cat, "condition_stakes": stakes, "requires_code_review": i % 2 == 0},
        ]
        raw = {"id": f"r{i}", "action": "block" if i % 2 else "warn", "scope": scope, **forms[i % 4]}
        raws.append(raw)
        applies = (
            cat == action["category"]
            and stakes == action["stakes"]
            and (not scope or action["project"] in scope)
        )
        if i % 4 == 3:
            fires = applies and i % 2 == 1  # requires code_review False, context has True
        else:
            fires = applies and action["confidence"] < round(threshold, 3)
        if fires:
            expected.append(f"r{i}")
    verdict = evaluate(rules(*raws), ActionContext.from_action({"description": "d", **action}))
    fired = sorted(f.guardrail_id for f in (*verdict.violations, *verdict.warnings))
    assert verdict.evaluated == 200
    assert len(expected) >= 3  # the set exercises real matches, not just misses
    assert fired == sorted(expected)
    assert verdict.allowed == (not any(int(r[1:]) % 2 for r in expected))
    assert verdict.errors == ()
