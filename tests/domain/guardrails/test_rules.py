"""Validation and compilation of one guardrail map: errors, actions, messages, names."""

from __future__ import annotations

from typing import Any

import pytest

from cstp.domain.errors import GuardrailError
from cstp.domain.guardrails import compile_rule
from tests.domain.guardrails.helpers import check, rules


def error(raw: Any) -> GuardrailError:
    with pytest.raises(GuardrailError) as e:
        compile_rule(raw, "bad.yaml")
    return e.value


def test_missing_id_fails_with_the_file_named() -> None:
    e = error({"description": "no id", "condition_stakes": "high"})
    assert (e.code, e.file, e.rule_id) == ("missing_id", "bad.yaml", None)
    assert "bad.yaml" in str(e)


def test_non_string_id_fails() -> None:
    assert error({"id": 12}).code == "missing_id"


def test_a_rule_that_is_not_a_map_fails() -> None:
    assert error(["id", "x"]).code == "bad_type"


def test_unknown_key_fails_naming_the_rule() -> None:
    e = error({"id": "r", "condtion_stakes": "high"})
    assert (e.code, e.rule_id) == ("unknown_key", "r")
    assert "condtion_stakes" in str(e)


def test_unknown_action_fails() -> None:
    e = error({"id": "r", "action": "blcok"})
    assert e.code == "bad_action"


@pytest.mark.parametrize("action", ["block", "warn", "log"])
def test_known_actions_load(action: str) -> None:
    assert compile_rule({"id": "r", "action": action}, "f.yaml").action == action


def test_action_defaults_to_warn() -> None:
    assert compile_rule({"id": "r"}, "f.yaml").action == "warn"


def test_scope_accepts_a_string_or_a_list() -> None:
    assert compile_rule({"id": "r", "scope": "A"}, "f").scope == ("A",)
    assert compile_rule({"id": "r", "scope": ["A", "B"]}, "f").scope == ("A", "B")


def test_scope_of_another_type_fails() -> None:
    assert error({"id": "r", "scope": {"a": 1}}).code == "bad_type"


def test_non_string_message_fails() -> None:
    assert error({"id": "r", "message": ["x"]}).code == "bad_type"


def test_requires_must_be_a_map() -> None:
    assert error({"id": "r", "requires": ["code_review"]}).code == "bad_type"


def test_message_placeholders_are_filled_from_the_context() -> None:
    ruleset = rules({"id": "r", "message": "{stakes} {category} at {confidence} in {team}"})
    verdict = check(ruleset, stakes="high", category="tooling", confidence=0.3, context={"team": "infra"})
    assert verdict.warnings[0].message == "high tooling at 0.3 in infra"


def test_unknown_placeholder_is_left_as_written() -> None:
    verdict = check(rules({"id": "r", "message": "needs {rollback_plan} and {a b}"}))
    assert verdict.warnings[0].message == "needs {rollback_plan} and {a b}"


def test_description_is_available_as_a_placeholder() -> None:
    verdict = check(rules({"id": "r", "message": "about {description}"}), description="deploy")
    assert verdict.warnings[0].message == "about deploy"


def test_default_message_names_the_rule() -> None:
    assert check(rules({"id": "r"})).warnings[0].message == "Guardrail r triggered"


def test_name_is_the_description_or_the_id() -> None:
    verdict = check(rules({"id": "a", "description": "Alpha"}, {"id": "b"}))
    assert [f.name for f in verdict.warnings] == ["Alpha", "b"]


def test_suggestion_is_passed_through() -> None:
    verdict = check(rules({"id": "r", "suggestion": "ask a human"}))
    assert verdict.warnings[0].suggestion == "ask a human"
