"""The `circuit_breakers:` YAML form, read by the guardrail loader: defaults, scopes, load errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cstp.domain.breakers.config import BreakerConfig, Subject
from cstp.domain.errors import GuardrailError
from cstp.domain.guardrails import load_rules

SHIPPED_FORM = """
circuit_breakers:
  - scope: stakes:high
    failure_threshold: 3
    window_ms: 86400000
    cooldown_ms: 3600000
    notify: true
  - scope: stakes:critical
    failure_threshold: 2
    window_ms: 86400000
    cooldown_ms: 7200000
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def load(tmp_path: Path, text: str) -> tuple[BreakerConfig, ...]:
    return load_rules([write(tmp_path, "circuit_breakers.yaml", text)], include_packaged=False).breakers


def test_the_reference_file_form_loads_as_breakers_not_as_a_rule(tmp_path: Path) -> None:
    rules = load_rules([write(tmp_path, "circuit_breakers.yaml", SHIPPED_FORM)], include_packaged=False)
    assert len(rules) == 0
    assert [(b.scope, b.failure_threshold, b.window_ms, b.cooldown_ms) for b in rules.breakers] == [
        ("stakes:high", 3, 86_400_000, 3_600_000),
        ("stakes:critical", 2, 86_400_000, 7_200_000),
    ]
    assert rules.breakers[0].file.endswith("circuit_breakers.yaml")


def test_breakers_and_rules_load_side_by_side_from_one_directory(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", "- id: r1\n  condition_stakes: high\n  action: warn\n")
    rules = load_rules([write(tmp_path, "cb.yaml", SHIPPED_FORM)], include_packaged=False)
    assert [r.id for r in rules] == ["r1"] and len(rules.breakers) == 2


def test_defaults_are_the_reference_ones(tmp_path: Path) -> None:
    (config,) = load(tmp_path, "circuit_breakers:\n  - scope: global\n")
    assert (config.failure_threshold, config.window_ms, config.cooldown_ms, config.notify) == (
        5,
        3_600_000,
        1_800_000,
        True,
    )


def test_an_empty_list_configures_nothing(tmp_path: Path) -> None:
    assert load(tmp_path, "circuit_breakers:\n") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("circuit_breakers: {scope: global}", "must be a list of maps"),
        ("circuit_breakers:\n  - global\n", "is a str, not a map"),
        ("circuit_breakers:\n  - failure_threshold: 2\n", "scope is required"),
        ("circuit_breakers:\n  - scope: project:x\n", "must be global or one of"),
        ("circuit_breakers:\n  - scope: 'stakes:'\n", "must be global or one of"),
        ("circuit_breakers:\n  - scope: global\n    failure_treshold: 2\n", "unknown key 'failure_treshold'"),
        (
            "circuit_breakers:\n  - scope: global\n    failure_threshold: 0\n",
            "failure_threshold must be a positive",
        ),
        ("circuit_breakers:\n  - scope: global\n    window_ms: '1h'\n", "window_ms must be a positive"),
        ("circuit_breakers:\n  - scope: global\n    cooldown_ms: true\n", "cooldown_ms must be a positive"),
        ("circuit_breakers:\n  - scope: global\n    notify: 'yes please'\n", "notify must be true or false"),
        ("circuit_breakers:\n  - scope: global\n  - scope: global\n", "duplicate scope 'global'"),
        ("circuit_breakers: []\nextra: 1\n", "unknown top-level key 'extra'"),
    ],
)
def test_a_broken_item_is_a_load_error_naming_the_file(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(GuardrailError) as info:
        load(tmp_path, text)
    assert expected in str(info.value)
    assert info.value.code == "invalid_breaker"
    assert info.value.file is not None and info.value.file.endswith("circuit_breakers.yaml")


def test_one_scope_in_two_files_is_a_load_error(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "circuit_breakers:\n  - scope: tag:db\n")
    write(tmp_path, "b.yaml", "circuit_breakers:\n  - scope: tag:db\n")
    with pytest.raises(GuardrailError, match="also configured in"):
        load_rules([tmp_path], include_packaged=False)


@pytest.mark.parametrize(
    ("scope", "subject", "matches"),
    [
        ("global", Subject(None, None, None), True),
        ("category:security", Subject("security", "low", "a"), True),
        ("category:security", Subject("architecture", "low", "a"), False),
        ("stakes:high", Subject("x", "high", "a"), True),
        ("stakes:high", Subject("x", "critical", "a"), False),
        ("agent:deployer", Subject("x", "low", "deployer"), True),
        ("agent:deployer", Subject("x", "low", "other"), False),
        ("tag:payments", Subject("x", "low", "a", ("db", "payments")), True),
        ("tag:payments", Subject("x", "low", "a", ("db",)), False),
        ("category:a:b", Subject("a:b", "low", "a"), True),
    ],
)
def test_scope_matching(scope: str, subject: Subject, matches: bool) -> None:
    assert BreakerConfig(scope).matches(subject) is matches


def test_the_example_breakers_in_the_repository_load() -> None:
    repo_rules = Path(__file__).resolve().parents[3] / "guardrails"
    breakers = {b.scope: b for b in load_rules([repo_rules]).breakers}
    assert (breakers["stakes:high"].failure_threshold, breakers["stakes:critical"].cooldown_ms) == (
        3,
        7_200_000,
    )
