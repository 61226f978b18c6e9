"""load_rules(): which files are read, in what order, and how broken files fail."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cstp.domain.errors import GuardrailError
from cstp.domain.guardrails import ActionContext, evaluate, load_rules, packaged_dir
from tests.domain.guardrails.helpers import write

RULE_A = "- id: a\n  condition_stakes: high\n"


def ids(directory: Path, **kw: bool) -> list[str]:
    return [r.id for r in load_rules([directory], include_packaged=kw.get("packaged", False))]


def test_reads_a_list_of_rules(rule_dir: Path) -> None:
    write(rule_dir, "x.yaml", RULE_A + "- id: b\n")
    assert ids(rule_dir) == ["a", "b"]


def test_reads_a_single_map(rule_dir: Path) -> None:
    write(rule_dir, "x.yaml", "id: solo\naction: block\n")
    assert ids(rule_dir) == ["solo"]


def test_reads_yml_files_in_name_order(rule_dir: Path) -> None:
    write(rule_dir, "b.yml", "- id: second\n")
    write(rule_dir, "a.yaml", "- id: first\n")
    assert ids(rule_dir) == ["first", "second"]


def test_empty_file_holds_no_rules(rule_dir: Path) -> None:
    write(rule_dir, "empty.yaml", "# nothing yet\n")
    assert ids(rule_dir) == []


def test_dot_files_are_skipped(rule_dir: Path) -> None:
    write(rule_dir, ".draft.yaml", "- id: hidden\n")
    write(rule_dir, ".x.yaml.swp", "garbage: [")
    assert ids(rule_dir) == []


def test_other_extensions_and_subdirectories_are_skipped(rule_dir: Path) -> None:
    write(rule_dir, "notes.txt", "- id: nope\n")
    (rule_dir / "templates").mkdir()
    write(rule_dir / "templates", "t.yaml", "- id: template\n")
    assert ids(rule_dir) == []


def test_circuit_breaker_file_is_not_a_guardrail(rule_dir: Path) -> None:
    write(
        rule_dir, "circuit_breakers.yaml", "circuit_breakers:\n  - scope: global\n    failure_threshold: 5\n"
    )
    assert ids(rule_dir) == []


def test_broken_yaml_fails_naming_the_file(rule_dir: Path) -> None:
    path = write(rule_dir, "broken.yaml", "- id: a\n  condition_stakes: [high\n")
    with pytest.raises(GuardrailError) as e:
        load_rules([rule_dir], include_packaged=False)
    assert (e.value.code, e.value.file) == ("yaml_error", str(path))
    assert "broken.yaml" in str(e.value) and "line" in str(e.value)


def test_file_of_the_wrong_shape_fails(rule_dir: Path) -> None:
    write(rule_dir, "x.yaml", "just a string\n")
    with pytest.raises(GuardrailError) as e:
        load_rules([rule_dir], include_packaged=False)
    assert e.value.code == "bad_type"


def test_list_item_that_is_not_a_map_fails(rule_dir: Path) -> None:
    write(rule_dir, "x.yaml", RULE_A + "- just text\n")
    with pytest.raises(GuardrailError, match="item 2"):
        load_rules([rule_dir], include_packaged=False)


def test_broken_rule_fails_naming_file_and_rule(rule_dir: Path) -> None:
    path = write(rule_dir, "x.yaml", "- id: bad\n  condition: 'action.stakes =='\n")
    with pytest.raises(GuardrailError) as e:
        load_rules([rule_dir], include_packaged=False)
    assert (e.value.code, e.value.file, e.value.rule_id) == ("cel_compile", str(path), "bad")


def test_missing_directory_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(GuardrailError) as e:
        load_rules([missing])
    assert e.value.code == "missing_directory"
    assert str(missing) in str(e.value)


def test_duplicate_ids_across_files_fail(rule_dir: Path) -> None:
    write(rule_dir, "a.yaml", RULE_A)
    write(rule_dir, "b.yaml", "- id: a\n")
    with pytest.raises(GuardrailError) as e:
        load_rules([rule_dir], include_packaged=False)
    assert (e.value.code, e.value.rule_id) == ("duplicate_id", "a")
    assert "a.yaml" in str(e.value) and "b.yaml" in str(e.value)


def test_duplicate_ids_across_directories_fail(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    write(one, "a.yaml", RULE_A)
    write(two, "a.yaml", RULE_A)
    with pytest.raises(GuardrailError, match="duplicate"):
        load_rules([one, two], include_packaged=False)


def test_the_same_directory_listed_twice_is_read_once(rule_dir: Path) -> None:
    write(rule_dir, "a.yaml", RULE_A)
    assert [r.id for r in load_rules([rule_dir, rule_dir], include_packaged=False)] == ["a"]


def test_configured_directories_load_before_packaged_rules(rule_dir: Path) -> None:
    write(rule_dir, "a.yaml", RULE_A)
    loaded = ids(rule_dir, packaged=True)
    assert loaded[0] == "a" and "no-high-stakes-low-confidence" in loaded


def test_user_rule_replaces_the_packaged_rule_with_the_same_id(
    rule_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(rule_dir, "mine.yaml", "- id: no-high-stakes-low-confidence\n  condition_stakes: never\n")
    with caplog.at_level(logging.INFO, logger="cstp.guardrails"):
        ruleset = load_rules([rule_dir])
    same = [r for r in ruleset if r.id == "no-high-stakes-low-confidence"]
    assert [r.file for r in same] == [str(rule_dir / "mine.yaml")]
    assert "guardrail no-high-stakes-low-confidence in " + str(rule_dir / "mine.yaml") in caplog.text


def test_packaged_rules_block_high_stakes_at_low_confidence() -> None:
    ruleset = load_rules([])
    action = {"description": "ship it", "stakes": "high", "confidence": 0.3}
    verdict = evaluate(ruleset, ActionContext.from_action(action))
    assert not verdict.allowed
    assert [v.guardrail_id for v in verdict.violations] == ["no-high-stakes-low-confidence"]


def test_packaged_rules_allow_an_ordinary_action() -> None:
    action = {"description": "rename a module", "category": "process", "confidence": 0.8}
    verdict = evaluate(load_rules([]), ActionContext.from_action(action))
    assert verdict.allowed and not verdict.warnings and not verdict.errors


def test_packaged_directory_ships_yaml() -> None:
    assert sorted(p.name for p in packaged_dir().glob("*.yaml")) == ["cornerstone.yaml"]


def test_example_rules_in_the_repository_load() -> None:
    repo_rules = Path(__file__).resolve().parents[3] / "guardrails"
    assert {"critical-needs-rollback", "shaky-security-change"} <= {r.id for r in load_rules([repo_rules])}


def test_empty_directory_without_packaged_rules_loads_nothing(rule_dir: Path) -> None:
    ruleset = load_rules([rule_dir], include_packaged=False)
    assert (len(ruleset), ruleset.files) == (0, ())


def test_fingerprint_changes_when_a_file_changes(rule_dir: Path) -> None:
    path = write(rule_dir, "a.yaml", RULE_A)
    before = load_rules([rule_dir], include_packaged=False).fingerprint
    path.write_text(RULE_A + "- id: b\n", encoding="utf-8")
    assert load_rules([rule_dir], include_packaged=False).fingerprint != before
