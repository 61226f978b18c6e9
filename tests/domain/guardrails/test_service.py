"""GuardrailService: fail-fast startup, audit lines, listing, reload and status."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cstp.domain.errors import GuardrailError
from cstp.domain.guardrails import ActionContext, GuardrailService
from cstp.domain.guardrails.service import AUDIT_LOGGER
from tests.domain.guardrails.helpers import write

RULES = """\
- id: no-risky
  description: No risky high-stakes moves
  condition_stakes: high
  condition_confidence: "< 0.5"
  action: block
- id: payments-review
  scope: [payments]
  condition_category: tooling
  requires_code_review: true
  action: warn
"""


@pytest.fixture
def service(rule_dir: Path) -> GuardrailService:
    write(rule_dir, "rules.yaml", RULES)
    return GuardrailService([rule_dir], include_packaged=False)


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER]


def test_broken_file_stops_construction(rule_dir: Path) -> None:
    write(rule_dir, "bad.yaml", "- id: x\n  condition: 'action.nope > 1'\n")
    with pytest.raises(GuardrailError) as e:
        GuardrailService([rule_dir], include_packaged=False)
    assert (e.value.rule_id, e.value.code) == ("x", "cel_compile")


def test_check_returns_the_verdict(service: GuardrailService) -> None:
    verdict = service.check({"description": "d", "stakes": "high", "confidence": 0.2}, "agent-1")
    assert not verdict.allowed
    assert [v.guardrail_id for v in verdict.violations] == ["no-risky"]


def test_each_check_writes_one_audit_line(
    service: GuardrailService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    service.check({"description": "d", "stakes": "high", "confidence": 0.2, "category": "tooling"}, "agent-1")
    assert audit_lines(caplog) == [
        {
            "event": "guardrails.check",
            "agent": "agent-1",
            "phase": "check",
            "allowed": False,
            "violations": ["no-risky"],
            "warnings": ["payments-review"],
            "errors": [],
            "evaluated": 2,
        }
    ]


def test_audit_line_carries_no_action_content(
    service: GuardrailService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "sk-live-5ecret-t0ken"
    service.check(
        {"description": f"rotate {secret}", "context": {"api_key": secret}, "token": secret}, "agent-1"
    )
    assert len(audit_lines(caplog)) == 1
    assert secret not in caplog.text


def test_check_record_returns_every_finding_as_a_warning_and_audits(
    service: GuardrailService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    action = ActionContext.for_record(
        description="d", category="process", stakes="high", confidence=0.2, quality_score=0.9
    )
    findings = service.check_record(action, "agent-1")
    assert [(f.guardrail_id, f.message, f.severity) for f in findings] == [
        ("no-risky", "Guardrail no-risky triggered", "block")
    ]
    assert [line["phase"] for line in audit_lines(caplog)] == ["record"]


def test_cel_runtime_error_is_logged_once_with_the_rule_id(
    rule_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(rule_dir, "r.yaml", "- id: needs-ctx\n  condition: 'action.context.ticket == 1'\n")
    svc = GuardrailService([rule_dir], include_packaged=False)
    caplog.set_level(logging.DEBUG, logger="cstp.guardrails")
    for _ in range(3):
        assert svc.check({"description": "d"}, "a").allowed
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "needs-ctx" in r.getMessage()]
    assert len(warnings) == 1


def test_concurrent_checks_log_a_cel_failure_once(rule_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(rule_dir, "r.yaml", "- id: needs-ctx\n  condition: 'action.context.ticket == 1'\n")
    svc = GuardrailService([rule_dir], include_packaged=False)
    caplog.set_level(logging.WARNING, logger="cstp.guardrails")
    start = threading.Barrier(8)

    def checks(_: int) -> None:
        start.wait()
        for _ in range(50):
            svc.check({"description": "d"}, "a")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(checks, range(8)))
    assert len([r for r in caplog.records if "needs-ctx" in r.getMessage()]) == 1


def test_a_reload_logs_a_known_failure_again(rule_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(rule_dir, "r.yaml", "- id: needs-ctx\n  condition: 'action.context.ticket == 1'\n")
    svc = GuardrailService([rule_dir], include_packaged=False)
    caplog.set_level(logging.WARNING, logger="cstp.guardrails")
    svc.check({"description": "d"}, "a")
    assert svc.reload()
    svc.check({"description": "d"}, "a")
    assert len([r for r in caplog.records if "needs-ctx" in r.getMessage()]) == 2


def test_list_filters_by_scope_keeping_unscoped_rules(service: GuardrailService) -> None:
    assert [r.id for r in service.rules_in_scope()] == ["no-risky", "payments-review"]
    assert [r.id for r in service.rules_in_scope("payments")] == ["no-risky", "payments-review"]
    assert [r.id for r in service.rules_in_scope("search")] == ["no-risky"]


def test_status_reports_what_is_loaded(service: GuardrailService, rule_dir: Path) -> None:
    status = service.status()
    assert status["loaded"] == 2
    assert status["files"] == [str(rule_dir / "rules.yaml")]
    assert status["last_error"] is None
    assert isinstance(status["last_reload"], str)


def test_reload_installs_new_rules(service: GuardrailService, rule_dir: Path) -> None:
    write(rule_dir, "more.yaml", "- id: extra\n")
    assert service.reload() is True
    assert service.status()["loaded"] == 3


def test_broken_edit_keeps_the_last_good_rules(
    service: GuardrailService, rule_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(rule_dir, "rules.yaml", RULES + "- id: [broken\n")
    with caplog.at_level(logging.ERROR, logger="cstp.guardrails"):
        assert service.reload() is False
    assert service.status()["loaded"] == 2
    assert not service.check({"description": "d", "stakes": "high", "confidence": 0.1}, "a").allowed
    error = service.status()["last_error"]
    assert error["file"] == str(path) and error["code"] == "yaml_error"
    assert "rules.yaml" in error["message"] and error["at"]
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_fixing_the_edit_clears_the_error(service: GuardrailService, rule_dir: Path) -> None:
    write(rule_dir, "rules.yaml", "- id: [broken\n")
    service.reload()
    write(rule_dir, "rules.yaml", RULES)
    assert service.reload() is True
    assert service.status()["last_error"] is None


def test_removed_directory_keeps_the_last_good_rules(tmp_path: Path) -> None:
    directory = tmp_path / "gone"
    directory.mkdir()
    write(directory, "a.yaml", "- id: a\n")
    svc = GuardrailService([directory], include_packaged=False)
    (directory / "a.yaml").unlink()
    directory.rmdir()
    assert svc.reload() is False
    assert svc.status()["last_error"]["code"] == "missing_directory"
    assert [r.id for r in svc.rules_in_scope()] == ["a"]


def test_reload_if_changed_skips_unchanged_files(service: GuardrailService, rule_dir: Path) -> None:
    before = service.status()["last_reload"]
    assert service.reload_if_changed() is None
    assert service.status()["last_reload"] == before
    write(rule_dir, "more.yaml", "- id: extra\n")
    assert service.reload_if_changed() is True
    assert "extra" in [r.id for r in service.rules_in_scope()]
