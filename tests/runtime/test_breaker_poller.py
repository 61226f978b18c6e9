"""BreakerPoller: another process's breaker events reach this process's view without a check
having to read the store; a store outage is logged once and survived."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cstp.adapters.memory_breakers import MemoryBreakers
from cstp.domain.breakers.config import Subject
from cstp.domain.guardrails import GuardrailService
from cstp.runtime.breaker_poller import BreakerPoller
from tests.runtime.test_guardrail_watcher import wait_for

BREAKERS = "circuit_breakers:\n  - scope: stakes:high\n    failure_threshold: 1\n"


def service(rules: Path, log: MemoryBreakers) -> GuardrailService:
    return GuardrailService([rules], include_packaged=False, breaker_store=log)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    (tmp_path / "circuit_breakers.yaml").write_text(BREAKERS, encoding="utf-8")
    return tmp_path


def blocked_without_reading(svc: GuardrailService, log: MemoryBreakers) -> bool:
    """Whether a check is blocked while the store refuses every read (so only the view counts)."""
    log.fail = True
    try:
        return not svc.check({"description": "x", "stakes": "high"}, "a").allowed
    finally:
        log.fail = False


def test_the_poller_brings_another_process_events_into_the_view(rules: Path) -> None:
    log = MemoryBreakers()
    here, there = service(rules, log), service(rules, log)
    assert here.breakers is not None and there.breakers is not None
    here.breakers.refresh()
    poller = BreakerPoller(here.breakers, interval=0.05)
    poller.start()
    try:
        assert poller.running
        there.breakers.record_outcome(Subject("x", "high", "a"), "failure", "d1")
        assert wait_for(lambda: blocked_without_reading(here, log))
    finally:
        poller.stop()
    assert not poller.running


def test_a_store_outage_is_logged_once_and_survived(rules: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = MemoryBreakers()
    svc = service(rules, log)
    assert svc.breakers is not None
    log.fail = True
    poller = BreakerPoller(svc.breakers, interval=0.02)
    with caplog.at_level(logging.INFO, logger="cstp.breakers"):
        poller.start()
        try:
            assert wait_for(lambda: any("unreadable" in r.message for r in caplog.records))
            log.fail = False
            assert wait_for(lambda: any("readable again" in r.message for r in caplog.records))
        finally:
            poller.stop()
    assert sum("unreadable" in r.message for r in caplog.records) == 1
