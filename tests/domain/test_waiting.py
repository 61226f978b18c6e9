"""may_wait: where a call would wait on I/O, it stops inside `answering_inline` and only there."""

from __future__ import annotations

import contextvars
import threading

import pytest

from cstp.domain.waiting import WouldWait, answering_inline, may_wait


def test_may_wait_stops_a_call_answering_inline_and_nothing_else() -> None:
    may_wait()  # outside: free to wait
    with pytest.raises(WouldWait), answering_inline():
        may_wait()
    may_wait()  # the block reset the flag, even though it ended with the exception


def test_the_flag_holds_for_the_code_the_block_runs_not_for_another_thread() -> None:
    outcome: list[str] = []

    def elsewhere() -> None:
        try:
            may_wait()
            outcome.append("waited")
        except WouldWait:
            outcome.append("stopped")

    with answering_inline():
        worker = threading.Thread(target=elsewhere)  # a thread starts with an empty context
        worker.start()
        worker.join()
        copied = contextvars.copy_context()  # what a thread given this context would see
    assert outcome == ["waited"]
    with pytest.raises(WouldWait):
        copied.run(may_wait)


def test_would_wait_is_no_failure_an_except_exception_could_take() -> None:
    """A handler's "store unavailable" fallback or the pipeline's error mapping catch Exception:
    none of them may turn the signal into an answer."""
    assert not issubclass(WouldWait, Exception)
    with pytest.raises(WouldWait), answering_inline():
        try:
            may_wait()
        except Exception:  # noqa: BLE001 (what the test is about)
            pytest.fail("taken for a failure")
