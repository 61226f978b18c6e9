"""CEL conditions: the three forms, the `action` environment, load-time errors, failing open."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cstp.domain.errors import GuardrailError
from cstp.domain.guardrails import ActionContext, compile_rule, evaluate
from cstp.domain.guardrails.cel import bind_action, compile_cel
from cstp.domain.guardrails.conditions import map_to_cel
from tests.domain.guardrails.helpers import check, rules, triggered


def cel_fires(expression: Any, **action: Any) -> bool:
    return triggered(rules({"id": "r", "condition": expression}), **action) == ["r"]


def test_cel_string_form() -> None:
    expr = "action.category == 'security' && action.confidence < 0.7"
    assert cel_fires(expr, category="security", confidence=0.5)
    assert not cel_fires(expr, category="security", confidence=0.9)


def test_cel_map_form_with_cel_key() -> None:
    assert cel_fires({"cel": "action.stakes == 'high'"}, stakes="high")
    assert not cel_fires({"cel": "action.stakes == 'high'"}, stakes="low")


def test_map_condition_is_a_conjunction() -> None:
    condition = {"stakes": "high", "category": "tooling"}
    assert cel_fires(condition, stakes="high", category="tooling")
    assert not cel_fires(condition, stakes="high", category="process")


@pytest.mark.parametrize(
    ("key", "fires_at", "quiet_at"),
    [
        ("confidence_lt", 0.4, 0.5),
        ("confidence_lte", 0.5, 0.6),
        ("confidence_gt", 0.6, 0.5),
        ("confidence_gte", 0.5, 0.4),
    ],
)
def test_map_suffixes_become_comparisons(key: str, fires_at: float, quiet_at: float) -> None:
    assert cel_fires({key: 0.5}, confidence=fires_at)
    assert not cel_fires({key: 0.5}, confidence=quiet_at)


def test_map_string_with_operator_is_a_comparison_not_string_equality() -> None:
    record = ActionContext.for_record(
        description="d", category="process", stakes="medium", confidence=0.8, quality_score=0.3
    )
    ruleset = rules({"id": "low-quality", "condition": {"quality_score": "< 0.5"}})
    assert [f.guardrail_id for f in evaluate(ruleset, record).warnings] == ["low-quality"]
    assert "'< 0.5'" not in map_to_cel({"quality_score": "< 0.5"})


def test_map_not_equal_string_is_a_comparison() -> None:
    assert cel_fires({"stakes": "!= low"}, stakes="high")
    assert not cel_fires({"stakes": "!= low"}, stakes="low")


def test_map_quality_keys_mean_quality_score() -> None:
    assert map_to_cel({"quality_lt": 0.5}) == "double(action.quality_score) < 0.5"


def test_map_unknown_keys_read_action_context() -> None:
    assert map_to_cel({"rows_gt": 10}) == "double(action.context.rows) > 10.0"
    assert cel_fires({"rows_gt": 10}, rows=11)
    assert cel_fires({"rows_gt": 10}, context={"rows": 10.5})


def test_map_numbers_match_ints_and_floats() -> None:
    assert cel_fires({"reason_count_lt": 1}, reasons=[])
    assert cel_fires({"confidence": 1}, confidence=1.0)


def test_map_list_value_means_membership() -> None:
    assert cel_fires({"stakes": ["high", "critical"]}, stakes="critical")
    assert not cel_fires({"stakes": ["high", "critical"]}, stakes="low")


def test_map_suffix_and_operator_together_fail_loading() -> None:
    with pytest.raises(GuardrailError) as e:
        rules({"id": "r", "condition": {"confidence_lt": "< 0.5"}})
    assert e.value.code == "bad_operator"


def test_invalid_cel_fails_loading_with_file_and_rule() -> None:
    with pytest.raises(GuardrailError) as e:
        compile_rule({"id": "broken", "condition": "action.stakes == "}, "ops.yaml")
    assert (e.value.code, e.value.file, e.value.rule_id) == ("cel_compile", "ops.yaml", "broken")
    assert "ops.yaml" in str(e.value) and "broken" in str(e.value)


def test_unknown_action_field_fails_loading() -> None:
    with pytest.raises(GuardrailError) as e:
        rules({"id": "r", "condition": "action.confidnce < 0.5"})
    assert e.value.code == "cel_compile"
    assert "action.context.confidnce" in str(e.value)


def test_unknown_variable_fails_loading() -> None:
    with pytest.raises(GuardrailError, match="unknown variable 'stakes'"):
        rules({"id": "r", "condition": "stakes == 'high'"})


def test_macro_variables_are_known() -> None:
    assert cel_fires("action.tags.exists(t, t.startsWith('ci'))", tags=["cicd"])


def test_invalid_regex_fails_loading() -> None:
    with pytest.raises(GuardrailError, match="invalid regular expression"):
        rules({"id": "r", "condition": "action.description.matches('(')"})


def test_condition_of_another_type_fails_loading() -> None:
    with pytest.raises(GuardrailError) as e:
        rules({"id": "r", "condition": 42})
    assert e.value.code == "bad_type"


def test_cel_key_with_other_keys_fails_loading() -> None:
    with pytest.raises(GuardrailError):
        rules({"id": "r", "condition": {"cel": "true", "stakes": "high"}})


def test_runtime_missing_key_fails_open_and_is_reported() -> None:
    verdict = check(rules({"id": "r", "condition": "action.context.backtest == false", "action": "block"}))
    assert verdict.allowed and not verdict.violations
    assert [(e.guardrail_id, "backtest" in e.error) for e in verdict.errors] == [("r", True)]


def test_non_boolean_result_fails_open_and_is_reported() -> None:
    verdict = check(rules({"id": "r", "condition": "action.reason_count + 1"}))
    assert not verdict.warnings
    assert verdict.errors[0].guardrail_id == "r"


def test_standard_fields_live_under_action_and_extras_under_context() -> None:
    assert cel_fires("action.stakes == 'high' && action.context.team == 'infra'", stakes="high", team="infra")
    assert cel_fires("action.context.team == 'infra'", context={"team": "infra"})


def test_null_confidence_is_zero() -> None:
    assert cel_fires("action.confidence == 0.0", confidence=None)
    assert cel_fires("action.confidence == 0.0")


def test_int_confidence_is_a_double() -> None:
    assert cel_fires("action.confidence == 1.0", confidence=1)


def test_has_tags_and_has_pattern_are_derived() -> None:
    assert cel_fires("action.has_tags && !action.has_pattern", tags=["a"])
    assert cel_fires("!action.has_tags && action.has_pattern", pattern="p")


def test_description_is_visible_to_cel() -> None:
    assert cel_fires("action.description.contains('prod')", description="deploy to prod")


def test_phase_is_check_in_check_guardrails() -> None:
    assert cel_fires("action.phase == 'check'")


def test_reason_count_counts_reasons() -> None:
    assert cel_fires("action.reason_count == 2", reasons=[{"text": "a"}, {"text": "b"}])


def test_in_size_and_not_work() -> None:
    assert cel_fires("action.stakes in ['high', 'critical']", stakes="high")
    assert cel_fires("size(action.tags) == 0 && !action.has_tags")
    assert cel_fires("!(action.category == 'security')", category="process")


def test_cel_and_flat_conditions_must_both_hold() -> None:
    ruleset = rules({"id": "r", "condition_category": "tooling", "condition": "action.stakes == 'high'"})
    assert triggered(ruleset, category="tooling", stakes="high") == ["r"]
    assert triggered(ruleset, category="process", stakes="high") == []


def test_cel_condition_with_requirements_triggers_when_one_fails() -> None:
    ruleset = rules(
        {"id": "r", "condition": "action.category == 'tooling'", "requires": {"code_review": True}}
    )
    assert triggered(ruleset, category="tooling") == ["r"]
    assert triggered(ruleset, category="tooling", code_review=True) == []
    assert triggered(ruleset, category="process") == []


def test_cel_is_compiled_once_per_rule() -> None:
    rule = compile_rule({"id": "r", "condition": "action.stakes == 'high'"}, "f")
    before = rule.cel
    check(rules({"id": "x"}), stakes="high")
    assert rule.cel is before and rule.cel is not None and rule.cel.program is not None


def test_compiled_program_is_reusable_across_actions() -> None:
    program = compile_cel("action.stakes == 'high'")
    for stakes, expected in (("high", True), ("low", False), ("high", True)):
        view = ActionContext.from_action({"description": "d", "stakes": stakes}).cel_action
        assert program.evaluate(bind_action(view)) is expected


def test_one_compiled_program_serves_concurrent_checks() -> None:
    program = compile_cel("action.stakes == 'high' && action.context.n * 2 > 5")
    cases = [
        ({"stakes": "high", "n": 3}, True),
        ({"stakes": "high", "n": 2}, False),
        ({"stakes": "low"}, False),
    ]
    views = [(ActionContext.from_action({"description": "d", **a}).cel_action, want) for a, want in cases]
    start = threading.Barrier(8)

    def worker(offset: int) -> list[bool]:
        start.wait()
        wrong = []
        for i in range(3000):
            view, want = views[(i + offset) % len(views)]
            wrong.append(program.evaluate(bind_action(view)) is not want)
        return wrong

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(worker, range(8)))
    assert not any(any(r) for r in results)


def test_int_and_double_compare_numerically() -> None:
    # A behaviour change from cel-python, which refused `int < double` and so failed open.
    assert cel_fires("action.reason_count < 2.0", reasons=[{"text": "a"}])
    assert cel_fires("action.context.rows > 10.5", rows=11)
    assert not cel_fires("action.confidence > 1", confidence=0.9)


def test_values_cel_cannot_represent_fail_open() -> None:
    verdict = check(rules({"id": "r", "condition": "action.reason_count * 2 > 1"}), odd={1, 2})
    assert not verdict.warnings
    assert verdict.errors[0].guardrail_id == "r"


def test_string_context_is_kept_under_context() -> None:
    assert cel_fires("action.context.context == 'free text'", context="free text")


@pytest.mark.parametrize(
    "expression",
    [
        "action.description == 'action.nope'",  # inside a string, not a field
        'action.description.startsWith(r"action.nope")',
        "action.context.action.nope == 1",  # a caller key named `action`
        "action.description.matches(action.context.pattern)",  # computed: checked when it runs
        "action.tags.exists(t, t.matches('^ci-[0-9]+$'))",
        "type(action.stakes) == string",
    ],
)
def test_valid_expressions_pass_the_load_checks(expression: str) -> None:
    assert compile_cel(expression).text == expression


def test_a_regex_the_engine_rejects_fails_loading_even_inside_a_macro() -> None:
    with pytest.raises(GuardrailError, match="invalid regular expression"):
        rules({"id": "r", "condition": "action.tags.exists(t, t.matches('(?=x)'))"})
