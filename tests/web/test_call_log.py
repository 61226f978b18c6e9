"""One INFO line per JSON-RPC call (batch members too): method, outcome, duration, agent, request id.

Never the token, never a param value.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from cstp import logs
from tests.conftest import AUTH, TOKEN

SECRET_PARAM = "param-value-that-must-not-be-logged"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The JSON log as `logs.configure` writes it, for the duration of one test."""
    stream = io.StringIO()
    handler = logs.json_handler(stream, [TOKEN])
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def calls(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [x for x in lines if x["logger"] == "cstp.rpc" and x["message"] == "call"]


def test_each_call_and_batch_member_logs_method_outcome_duration_agent_and_request_id(
    client: Any, log_lines: io.StringIO
) -> None:
    batch = [
        {"jsonrpc": "2.0", "method": "cstp.listGuardrails", "params": {"scope": SECRET_PARAM}, "id": 1},
        {"jsonrpc": "2.0", "method": "cstp.nope", "id": 2},
        {"jsonrpc": "2.0", "method": "cstp.getDecision", "params": {"id": SECRET_PARAM}},
    ]
    headers = {**AUTH, "X-Request-ID": "req-log-1"}
    assert client.post("/cstp", json=batch, headers=headers).status_code == 200
    lines = calls(log_lines)
    assert sorted((x["method"], x["outcome"]) for x in lines) == [
        ("cstp.getDecision", "ok"),
        ("cstp.listGuardrails", "ok"),
        ("cstp.nope", "error-32601"),
    ]
    for x in lines:
        assert x["level"] == "INFO" and x["agent"] == "tester" and x["request_id"] == "req-log-1"
        assert isinstance(x["duration_ms"], float) and x["duration_ms"] >= 0
    text = log_lines.getvalue()
    assert SECRET_PARAM not in text and TOKEN not in text


def test_a_single_call_logs_one_line_and_no_http_line_at_info(client: Any, log_lines: io.StringIO) -> None:
    body = {"jsonrpc": "2.0", "method": "cstp.listGuardrails", "id": 1}
    assert client.post("/cstp", json=body, headers=AUTH).status_code == 200
    assert len(calls(log_lines)) == 1
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert [x for x in lines if x["logger"] == "cstp.http"] == []  # the call line says it all


def test_a_refused_request_still_logs_its_http_line(client: Any, log_lines: io.StringIO) -> None:
    client.post("/cstp", json={}, headers={"Authorization": "Bearer wrong-token-123"})
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    http = [x for x in lines if x["logger"] == "cstp.http"]
    assert [(x["path"], x["status"]) for x in http] == [("/cstp", 401)]
    assert calls(log_lines) == [] and "wrong-token-123" not in log_lines.getvalue()


def test_a_body_that_is_not_a_call_still_logs_one_line(client: Any, log_lines: io.StringIO) -> None:
    for body in (b"{not json", b"[]"):
        assert client.post("/cstp", content=body, headers=AUTH).status_code == 200
    assert [(x["method"], x["outcome"]) for x in calls(log_lines)] == [
        (None, "error-32700"),
        (None, "error-32600"),
    ]
