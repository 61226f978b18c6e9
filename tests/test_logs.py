"""logs: the redaction filter and the context fields."""

from __future__ import annotations

import io
import json
import logging

from cstp import logs


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("cstp.test", logging.INFO, __file__, 1, msg, args, None)


def test_redact_filter_masks_every_configured_secret_in_message_and_args() -> None:
    f = logs.RedactFilter(["s3cr3t-token", "other-secret"])
    r = record("auth with %s and %s", "s3cr3t-token", "other-secret")
    assert f.filter(r) is True
    assert r.getMessage() == "auth with *** and ***"


def test_redact_filter_leaves_clean_messages_and_ignores_too_short_secrets() -> None:
    f = logs.RedactFilter(["abc", ""])  # under 4 characters: would mask ordinary words
    r = record("abc %d", 5)
    assert f.filter(r) is True
    assert r.getMessage() == "abc 5" and r.args == (5,)


def test_json_lines_carry_request_id_and_agent_and_no_secret() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("cstp.test.logs")
    logger.addHandler(logs.json_handler(stream, ["tok-123456"]))
    logger.setLevel(logging.INFO)
    rid, agent = logs.request_id.set("r-1"), logs.agent.set("alice")
    try:
        logger.info("token tok-123456 seen", extra={"n": 1})
    finally:
        logs.request_id.reset(rid)
        logs.agent.reset(agent)
    line = json.loads(stream.getvalue())
    assert line["request_id"] == "r-1" and line["agent"] == "alice" and line["n"] == 1
    assert line["message"] == "token *** seen" and line["level"] == "INFO"


def test_a_keyword_index_rebuild_writes_no_debug_line_at_info() -> None:
    """bm25s sets its logger to DEBUG when imported; at CSTP_LOG_LEVEL=INFO a rebuild is silent."""
    from datetime import UTC, datetime

    from cstp.adapters.bm25s_index import Bm25sIndex
    from cstp.domain.records import Decision

    out = io.StringIO()
    root, bm25s_log = logging.getLogger(), logging.getLogger("bm25s")
    handlers, level, bm25s_level = root.handlers[:], root.level, bm25s_log.level
    try:
        logs.configure("INFO", stream=out)
        d = Decision(
            id="a1", decision="rotate credentials", category="process", confidence=0.5, stakes="low",
            date=datetime(2024, 1, 1, tzinfo=UTC),
        )  # fmt: skip
        Bm25sIndex().rebuild([d])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        bm25s_log.setLevel(bm25s_level)
    assert "Building index" not in out.getvalue()
