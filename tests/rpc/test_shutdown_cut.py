"""After `Dispatcher.stop()` (shutdown is closing the components), a handler that fails because
its dependencies closed under it is a shutdown cut: a fixed -32603, an INFO line, no traceback."""

from __future__ import annotations

import json
import logging

import pytest

from cstp.rpc import Dispatcher, MethodSpec
from tests.rpc.test_dispatch import Limit, boom

BODY = b'{"jsonrpc":"2.0","method":"boom","id":1}'


def test_a_failure_after_stop_is_a_quiet_shutdown_cut(caplog: pytest.LogCaptureFixture) -> None:
    dispatcher = Dispatcher({"boom": MethodSpec("boom", Limit, boom)})
    caplog.set_level(logging.INFO)
    before = json.loads(dispatcher.dispatch(BODY) or b"")
    assert before["error"]["message"] == "Internal error"
    assert any(r.exc_info for r in caplog.records)  # a bug while serving is traced
    caplog.clear()
    dispatcher.stop()
    after = json.loads(dispatcher.dispatch(BODY) or b"")
    assert after["error"] == {
        "code": -32603,
        "message": "Server shutting down",
        "data": {"component": "server"},
    }
    assert not any(r.exc_info or r.levelno >= logging.WARNING for r in caplog.records)
