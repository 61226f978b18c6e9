"""Circuit breakers through `GuardrailService.check` (what checkGuardrails and preAction call), with
an injected clock and one `MemoryBreakers` log shared by two services standing in for two server
processes on one database."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from cstp.adapters.memory_breakers import MemoryBreakers
from cstp.domain.breakers.config import Subject
from cstp.domain.breakers.service import COMPACT_KEEP, CircuitBreakers
from cstp.domain.errors import InvalidInput, StoreUnavailable
from cstp.domain.guardrails import GuardrailService, Verdict
from cstp.domain.guardrails.breaker_gate import BreakerFinding

BREAKERS = """
circuit_breakers:
  - scope: stakes:high
    failure_threshold: 3
    window_ms: 60000
    cooldown_ms: 10000
  - scope: tag:payments
    failure_threshold: 2
    window_ms: 60000
    cooldown_ms: 10000
"""
RULE = """
- id: no-friday-deploys
  condition_category: deploy
  action: block
"""
HIGH = Subject("architecture", "high", "alice")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log() -> MemoryBreakers:
    return MemoryBreakers()


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "circuit_breakers.yaml").write_text(BREAKERS, encoding="utf-8")
    (tmp_path / "rules.yaml").write_text(RULE, encoding="utf-8")
    return tmp_path


def service(rules_dir: Path, log: MemoryBreakers, clock: Clock) -> GuardrailService:
    return GuardrailService([rules_dir], include_packaged=False, breaker_store=log, clock=clock)


def breakers(svc: GuardrailService) -> CircuitBreakers:
    assert svc.breakers is not None
    return svc.breakers


def check(svc: GuardrailService, agent: str = "alice", **action: Any) -> Verdict:
    action.setdefault("description", "ship it")
    action.setdefault("stakes", "high")
    return svc.check(action, agent)


def fail(svc: GuardrailService, n: int, subject: Subject = HIGH, start: int = 0) -> None:
    for i in range(start, start + n):
        breakers(svc).record_outcome(subject, "failure", f"d{i:04d}")


def ids(verdict: Verdict) -> list[str]:
    return [f.guardrail_id for f in verdict.violations]


@pytest.fixture
def svc(rules_dir: Path, log: MemoryBreakers, clock: Clock) -> GuardrailService:
    return service(rules_dir, log, clock)


def test_repeated_failures_open_the_breaker_and_block_checks_in_its_scope(svc: GuardrailService) -> None:
    fail(svc, 2)
    assert check(svc).allowed
    fail(svc, 1, start=2)
    verdict = check(svc)
    assert not verdict.allowed and ids(verdict) == ["circuit_breaker:stakes:high"]
    finding = verdict.violations[0]
    assert isinstance(finding, BreakerFinding)
    assert finding.message == "Circuit breaker OPEN for stakes:high: 3/3 failures in window"
    assert (finding.severity, finding.type, finding.state) == ("block", "circuit_breaker", "open")
    assert finding.reset_at is not None
    assert check(svc, stakes="low").allowed  # another scope is not blocked


def test_abandoned_counts_as_a_failure_and_partial_as_a_success(svc: GuardrailService) -> None:
    b = breakers(svc)
    b.record_outcome(HIGH, "failure", "a")
    b.record_outcome(HIGH, "abandoned", "b")
    b.record_outcome(HIGH, "partial", "c")  # clears the failures of a closed breaker
    b.record_outcome(HIGH, "failure", "d")
    b.record_outcome(HIGH, "abandoned", "e")
    assert check(svc).allowed
    b.record_outcome(HIGH, "failure", "f")
    assert not check(svc).allowed


def test_reviewing_one_decision_again_counts_it_once(svc: GuardrailService) -> None:
    for _ in range(5):
        breakers(svc).record_outcome(HIGH, "failure", "same-decision")
    status = breakers(svc).status("stakes:high")
    assert status is not None and len(status.state.failures) == 1


def test_tag_and_agent_scopes_match_the_checked_action(
    rules_dir: Path, log: MemoryBreakers, clock: Clock
) -> None:
    (rules_dir / "agents.yaml").write_text(
        "circuit_breakers:\n  - scope: agent:deployer\n    failure_threshold: 1\n", encoding="utf-8"
    )
    svc = service(rules_dir, log, clock)
    fail(svc, 2, Subject("ops", "low", "someone", ("payments",)))
    assert ids(check(svc, stakes="low", tags=["payments", "db"])) == ["circuit_breaker:tag:payments"]
    assert check(svc, stakes="low", tags=["db"]).allowed
    fail(svc, 1, Subject("ops", "low", "deployer"), start=10)
    # the agent scope matches the authenticated agent (the reference never matched it on checks)
    assert ids(check(svc, agent="deployer", stakes="low")) == ["circuit_breaker:agent:deployer"]
    assert check(svc, agent="someone-else", stakes="low").allowed


def test_after_the_cooldown_one_probe_is_let_through_and_the_rest_blocked(
    svc: GuardrailService, clock: Clock
) -> None:
    fail(svc, 3)
    assert not check(svc).allowed
    clock.tick(10)
    assert breakers(svc).status("stakes:high").state.state == "half_open"  # type: ignore[union-attr]
    assert check(svc).allowed  # the probe
    blocked = check(svc)
    assert not blocked.allowed
    assert "probe in flight" in blocked.violations[0].message
    assert blocked.violations[0].state == "half_open"  # type: ignore[attr-defined]


def test_the_probes_success_closes_the_breaker(svc: GuardrailService, clock: Clock) -> None:
    fail(svc, 3)
    clock.tick(10)
    assert check(svc).allowed
    breakers(svc).record_outcome(HIGH, "success", "probe-decision")
    assert breakers(svc).status("stakes:high").state.state == "closed"  # type: ignore[union-attr]
    assert check(svc).allowed and check(svc).allowed


def test_the_probes_failure_opens_it_again(svc: GuardrailService, clock: Clock) -> None:
    fail(svc, 3)
    clock.tick(10)
    assert check(svc).allowed
    fail(svc, 1, start=50)
    assert breakers(svc).status("stakes:high").state.state == "open"  # type: ignore[union-attr]
    assert not check(svc).allowed
    clock.tick(10)
    assert check(svc).allowed  # the next cooldown, the next probe


def test_a_check_blocked_by_a_rule_does_not_spend_the_probe(svc: GuardrailService, clock: Clock) -> None:
    fail(svc, 3)
    clock.tick(10)
    blocked = check(svc, category="deploy")
    assert ids(blocked) == ["no-friday-deploys"]
    assert check(svc).allowed  # the probe is still there for an action the rules allow


def test_reset_closes_an_open_breaker(svc: GuardrailService) -> None:
    fail(svc, 3)
    before, after = breakers(svc).reset("stakes:high")
    assert (before.state.state, after.state.state) == ("open", "closed")
    assert check(svc).allowed


def test_reset_with_probe_first_lets_one_action_through(svc: GuardrailService) -> None:
    fail(svc, 3)
    _, after = breakers(svc).reset("stakes:high", probe_first=True)
    assert after.state.state == "half_open"
    assert check(svc).allowed
    assert not check(svc).allowed


def test_reset_refuses_an_unknown_scope_and_a_breaker_that_is_not_open(svc: GuardrailService) -> None:
    with pytest.raises(InvalidInput, match="No breaker found for scope: stakes:low"):
        breakers(svc).reset("stakes:low")
    with pytest.raises(InvalidInput, match="Can only reset OPEN breakers, current state: closed"):
        breakers(svc).reset("stakes:high")


def test_a_breaker_opened_on_one_process_blocks_on_the_other(
    rules_dir: Path, log: MemoryBreakers, clock: Clock
) -> None:
    one, two = service(rules_dir, log, clock), service(rules_dir, log, clock)
    assert check(two).allowed  # two has read the (empty) log into its view
    fail(one, 3)
    breakers(two).refresh()  # what two's poller thread does every second
    assert ids(check(two)) == ["circuit_breaker:stakes:high"]


def test_only_one_process_gets_the_half_open_probe(
    rules_dir: Path, log: MemoryBreakers, clock: Clock
) -> None:
    one, two = service(rules_dir, log, clock), service(rules_dir, log, clock)
    fail(one, 3)
    clock.tick(10)
    breakers(two).refresh()
    assert check(one).allowed
    # two's view still shows the slot free; claiming it reads the log back and loses
    assert not check(two).allowed


def test_a_restarted_process_sees_the_state(rules_dir: Path, log: MemoryBreakers, clock: Clock) -> None:
    fail(service(rules_dir, log, clock), 3)
    assert not check(service(rules_dir, log, clock)).allowed


def test_a_reload_updates_the_breakers(svc: GuardrailService, rules_dir: Path) -> None:
    (rules_dir / "circuit_breakers.yaml").write_text(
        "circuit_breakers:\n  - scope: stakes:high\n    failure_threshold: 1\n", encoding="utf-8"
    )
    assert svc.reload()
    fail(svc, 1)
    assert not check(svc).allowed
    (rules_dir / "circuit_breakers.yaml").unlink()
    assert svc.reload()
    assert check(svc).allowed and breakers(svc).statuses() == []


def test_a_broken_breaker_file_keeps_the_last_good_set(svc: GuardrailService, rules_dir: Path) -> None:
    (rules_dir / "circuit_breakers.yaml").write_text("circuit_breakers:\n  - scope: nope\n", encoding="utf-8")
    assert not svc.reload()
    assert svc.status()["last_error"]["code"] == "invalid_breaker"
    assert [s.config.scope for s in breakers(svc).statuses()] == ["stakes:high", "tag:payments"]


def test_checks_outside_every_scope_never_read_the_log(svc: GuardrailService, log: MemoryBreakers) -> None:
    log.fail = True
    assert check(svc, stakes="low").allowed


def test_without_breakers_configured_checks_never_read_the_log(tmp_path: Path) -> None:
    log = MemoryBreakers()
    log.fail = True
    svc = GuardrailService([tmp_path], include_packaged=False, breaker_store=log)
    assert svc.check({"description": "x", "stakes": "high"}, "alice").allowed


def test_an_unreadable_log_keeps_the_last_view(
    svc: GuardrailService, log: MemoryBreakers, clock: Clock
) -> None:
    fail(svc, 3)
    assert not check(svc).allowed
    log.fail = True
    clock.tick(1)
    with pytest.raises(StoreUnavailable):
        breakers(svc).refresh()
    assert not check(svc).allowed  # still blocked from the last view


def test_transitions_are_written_to_the_audit_log(
    svc: GuardrailService, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="cstp.breakers.audit"):
        fail(svc, 3)
    events = [json.loads(r.message) for r in caplog.records if r.name == "cstp.breakers.audit"]
    assert events[-1]["event"] == "circuit_breaker.closed_to_open"
    assert (events[-1]["scope"], events[-1]["failure_count"]) == ("stakes:high", 3)


def test_the_log_stays_bounded(svc: GuardrailService, log: MemoryBreakers, clock: Clock) -> None:
    for i in range(200):
        breakers(svc).record_outcome(HIGH, "failure" if i % 3 else "success", f"d{i}")
        clock.tick(5)
    expected = breakers(svc).status("stakes:high")
    breakers(svc).refresh()  # compacts
    stored = log.events(["stakes:high"])
    assert len(stored) <= COMPACT_KEEP + 60_000 // 5_000 + 2
    assert breakers(svc).status("stakes:high") == expected


def test_without_a_store_configured_breakers_are_reported_as_not_enforced(
    rules_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cstp.guardrails"):
        svc = GuardrailService([rules_dir], include_packaged=False)
    assert svc.breakers is None
    assert any("not enforced" in r.message for r in caplog.records)
