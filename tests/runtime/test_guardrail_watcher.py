"""GuardrailWatcher: a changed rule file is picked up without SIGHUP; a broken edit is not."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cstp.domain.guardrails import GuardrailService
from cstp.runtime.guardrail_watcher import GuardrailWatcher


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def ids(service: GuardrailService) -> list[str]:
    return [r.id for r in service.rules_in_scope()]


def test_a_service_without_directories_starts_no_thread() -> None:
    watcher = GuardrailWatcher(GuardrailService([]))
    watcher.start()
    assert watcher.running is False


def test_watcher_picks_up_a_changed_file(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("- id: first\n")
    service = GuardrailService([tmp_path], include_packaged=False)
    watcher = GuardrailWatcher(service, debounce_ms=50)
    watcher.start()
    try:
        assert wait_for(lambda: watcher.running)
        time.sleep(0.2)  # let the watcher register before the edit
        (tmp_path / "new.yaml").write_text("- id: hot-added\n")
        assert wait_for(lambda: "hot-added" in ids(service))
        (tmp_path / "new.yaml").write_text("- id: [broken\n")
        assert wait_for(lambda: service.status()["last_error"] is not None)
        assert "hot-added" in ids(service)
    finally:
        watcher.stop()
    assert watcher.running is False
