"""Flat `condition_*` / `requires_*` keys and the nested `requires:` map (legacy semantics)."""

from __future__ import annotations

import pytest

from cstp.domain.errors import GuardrailError
from tests.domain.guardrails.helpers import rules, triggered


def fires(condition: object, value: object) -> bool:
    ruleset = rules({"id": "r", "condition_x": condition})
    return triggered(ruleset, x=value) == ["r"]


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        ("< 0.5", 0.3, True),
        ("< 0.5", 0.5, False),
        ("<= 0.5", 0.5, True),
        ("<= 0.5", 0.6, False),
        ("> 10", 11, True),
        ("> 10", 10, False),
        (">= 0.7", 0.7, True),
        (">= 0.7", 0.69, False),
        ("== 5", 5, True),
        ("== 5", 6, False),
        ("!= low", "high", True),
        ("!= low", "low", False),
        ("== high", "high", True),
    ],
)
def test_each_comparison_operator(condition: str, value: object, expected: bool) -> None:
    assert fires(condition, value) is expected


def test_comparison_converts_numeric_strings_on_both_sides() -> None:
    assert fires("< 0.5", "0.25")
    assert fires("== 5", "5.0")


def test_ordering_against_a_non_number_is_false() -> None:
    assert not fires("< 0.5", "abc")
    assert not fires("< 0.5", None)
    assert not fires("< 0.5", True)


def test_not_equal_number_against_a_non_number_is_true() -> None:
    assert fires("!= 5", "abc")


def test_plain_value_means_equality() -> None:
    assert fires("high", "high")
    assert not fires("high", "low")
    assert fires(True, True)
    assert not fires(True, False)
    assert fires(42, 42)


def test_missing_field_makes_the_condition_false() -> None:
    ruleset = rules({"id": "r", "condition_x": "!= 5"})
    assert triggered(ruleset) == []


def test_every_condition_must_hold() -> None:
    ruleset = rules({"id": "r", "condition_stakes": "high", "condition_confidence": "< 0.5"})
    assert triggered(ruleset, stakes="high", confidence=0.3) == ["r"]
    assert triggered(ruleset, stakes="high", confidence=0.8) == []
    assert triggered(ruleset, stakes="low", confidence=0.3) == []


def test_rule_without_conditions_or_requirements_always_triggers() -> None:
    assert triggered(rules({"id": "always"})) == ["always"]


@pytest.mark.parametrize("bad", ["= 5", "=> 5", "<> 5", "<< 1"])
def test_unknown_operator_fails_loading(bad: str) -> None:
    with pytest.raises(GuardrailError) as e:
        rules({"id": "r", "condition_x": bad})
    assert e.value.code == "bad_operator"
    assert e.value.rule_id == "r"
    assert e.value.file == "test.yaml"


def test_ordering_operator_needs_a_number() -> None:
    with pytest.raises(GuardrailError) as e:
        rules({"id": "r", "condition_x": "< soon"})
    assert e.value.code == "bad_operand"


def test_boolean_requirement_is_compared_by_truthiness() -> None:
    ruleset = rules({"id": "r", "requires_code_review": True})
    assert triggered(ruleset, code_review=True) == []
    assert triggered(ruleset, code_review="yes") == []
    assert triggered(ruleset, code_review=False) == ["r"]
    assert triggered(ruleset, code_review=0) == ["r"]


def test_false_requirement_wants_a_falsy_value() -> None:
    ruleset = rules({"id": "r", "requires_draft": False})
    assert triggered(ruleset, draft=False) == []
    assert triggered(ruleset, draft=True) == ["r"]


def test_numeric_requirement_compares_numbers() -> None:
    ruleset = rules({"id": "r", "requires_coverage": ">= 0.7"})
    assert triggered(ruleset, coverage=0.8) == []
    assert triggered(ruleset, coverage=0.6) == ["r"]
    assert triggered(ruleset, coverage="n/a") == ["r"]


def test_missing_field_fails_the_requirement() -> None:
    assert triggered(rules({"id": "r", "requires_code_review": True})) == ["r"]


def test_plain_requirement_means_equality() -> None:
    ruleset = rules({"id": "r", "requires_env": "staging"})
    assert triggered(ruleset, env="staging") == []
    assert triggered(ruleset, env="prod") == ["r"]


def test_requirements_only_apply_when_conditions_hold() -> None:
    ruleset = rules({"id": "r", "condition_stakes": "critical", "requires_rollback_plan": True})
    assert triggered(ruleset, stakes="high") == []
    assert triggered(ruleset, stakes="critical") == ["r"]
    assert triggered(ruleset, stakes="critical", rollback_plan=True) == []


def test_any_failing_requirement_triggers() -> None:
    ruleset = rules({"id": "r", "requires_a": True, "requires_b": True})
    assert triggered(ruleset, a=True, b=True) == []
    assert triggered(ruleset, a=True, b=False) == ["r"]


def test_nested_requires_map_is_parsed() -> None:
    ruleset = rules({"id": "r", "requires": {"code_review": True, "coverage": ">= 0.7"}})
    assert triggered(ruleset, code_review=True, coverage=0.9) == []
    assert triggered(ruleset, code_review=True, coverage=0.5) == ["r"]


def test_context_values_are_condition_fields() -> None:
    ruleset = rules({"id": "r", "condition_affects_production": True})
    assert triggered(ruleset, context={"affects_production": True}) == ["r"]


def test_top_level_extras_win_over_context_values() -> None:
    ruleset = rules({"id": "r", "condition_env": "prod"})
    assert triggered(ruleset, env="prod", context={"env": "dev"}) == ["r"]
    assert triggered(ruleset, env="dev", context={"env": "prod"}) == []


def test_stakes_defaults_to_medium() -> None:
    assert triggered(rules({"id": "r", "condition_stakes": "medium"})) == ["r"]


def test_description_is_not_a_legacy_condition_field() -> None:
    ruleset = rules({"id": "r", "condition_description": "deploy"})
    assert triggered(ruleset, description="deploy") == []
