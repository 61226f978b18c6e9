"""Property-based fuzzing of POST /cstp: whatever the body, the reply is HTTP 200 or 204 with valid
JSON-RPC in strict UTF-8 JSON (no NaN/Infinity), a client's bad input is never -32603, and a reply's
id equals the request's id (or is null for an invalid request)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import AUTH, TOKEN

# Strings including lone surrogates and the characters JSON must escape.
_text = st.text(alphabet=st.characters(codec=None, categories=None), max_size=12) | st.sampled_from(
    ["\ud800", "a\udfffb", "\x00", '"', "\\", "\ufeff"]
)
_numbers = st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
_scalars = st.none() | st.booleans() | _numbers | _text
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)
_methods = (
    st.sampled_from(
        [
            "cstp.recordDecision",
            "cstp.getDecision",
            "cstp.reviewDecision",
            "cstp.queryDecisions",
            "cstp.listDecisions",
            "cstp.getStats",
            "cstp.checkGuardrails",
            "cstp.updateDecision",
            "cstp.linkDecisions",
            "cstp.getGraph",
            "cstp.getCalibration",
        ]
    )
    | _text
)
_known_keys = st.sampled_from(
    [
        "decision",
        "confidence",
        "category",
        "id",
        "outcome",
        "query",
        "mode",
        "limit",
        "bridge",
        "trace",
        "tags",
        "reviewIn",
        "updates",
        "filters",
        "reasons",
        "context",
        "source",
        "target",
    ]
)
_params = st.dictionaries(_known_keys | _text, _json, max_size=6) | _json
_ids = st.none() | st.integers(-(2**64), 2**64) | _text | st.floats(allow_nan=False, allow_infinity=False)
# Number literals the fuzzer splices in as raw text (Python's json would not emit them).
_raw_numbers = st.sampled_from(["1e400", "-1e400", "1.0e-400", "123456789012345678901234567890.5", "NaN"])


@st.composite
def _request(draw: st.DrawFn) -> tuple[bytes, Any]:
    obj: dict[str, Any] = {"jsonrpc": draw(st.sampled_from(["2.0", "2.0", "2.0", "1.0", 2]))}
    obj["method"] = draw(_methods)
    if draw(st.booleans()):
        obj["params"] = draw(_params)
    has_id = draw(st.integers(0, 9)) > 0
    if has_id:
        obj["id"] = draw(_ids)
    text = json.dumps(obj)  # ASCII: non-ASCII and surrogates go out as \uXXXX escapes
    if has_id and draw(st.integers(0, 4)) == 0:
        # The id is the last member: splice a number literal the reply cannot echo in its place.
        head, _, _ = text.rpartition('"id": ')
        return f'{head}"id": {draw(_raw_numbers)}}}'.encode(), None
    return text.encode("ascii"), obj.get("id", ...)


def _strict(raw: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"reply contains {name}")

    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


def _check_reply(reply: Any) -> None:
    assert isinstance(reply, dict) and reply.get("jsonrpc") == "2.0", reply
    assert "id" in reply
    if "error" in reply:
        assert set(reply["error"]) <= {"code", "message", "data"}
        assert reply["error"]["code"] != -32603, reply
    else:
        assert "result" in reply


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from cstp.adapters.memory_store import MemoryStore
    from cstp.app import Adapters, create_app
    from cstp.settings import Settings
    from tests.fakes import HashEmbedder

    data: Path = tmp_path_factory.mktemp("fuzz")
    settings_ = Settings(data_dir=data, auth_tokens=f"tester:{TOKEN}", guardrails_watch=False)
    app = create_app(settings_, adapters=Adapters(MemoryStore(HashEmbedder.space), HashEmbedder()))
    with TestClient(app) as c:
        yield c


_FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@_FUZZ
@given(request=_request())
def test_any_request_gets_a_valid_json_rpc_reply(fuzz_client: Any, request: tuple[bytes, Any]) -> None:
    body, sent_id = request
    response = fuzz_client.post("/cstp", content=body, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code in (200, 204), response.text
    if response.status_code == 204:
        assert sent_id is ...  # only a notification goes unanswered
        return
    reply = _strict(response.content)
    _check_reply(reply)
    if reply["id"] is not None:
        assert reply["id"] == sent_id


@_FUZZ
@given(members=st.lists(_request(), min_size=1, max_size=8))
def test_any_batch_gets_valid_replies(fuzz_client: Any, members: list[tuple[bytes, Any]]) -> None:
    body = b"[" + b",".join(m for m, _ in members) + b"]"
    response = fuzz_client.post("/cstp", content=body, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code in (200, 204), response.text
    if response.status_code == 200:
        replies = _strict(response.content)
        if isinstance(replies, dict):  # a NaN literal makes the whole body unparseable
            assert replies["error"]["code"] == -32700, replies
        else:
            for reply in replies:
                _check_reply(reply)


@_FUZZ
@given(body=st.binary(max_size=200) | _json.map(lambda v: json.dumps(v).encode()))
def test_any_body_gets_a_valid_reply(fuzz_client: Any, body: bytes) -> None:
    response = fuzz_client.post("/cstp", content=body, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code in (200, 204), response.text
    if response.status_code == 200:
        reply = _strict(response.content)
        for r in reply if isinstance(reply, list) else [reply]:
            _check_reply(r)


def test_stored_data_stays_readable_after_fuzzing(fuzz_client: Any) -> None:
    """Run last in this module: whatever the fuzzers managed to store must still be listed,
    searched and fetched with valid JSON replies."""
    for method, params in (
        ("cstp.listDecisions", {"limit": 500}),
        ("cstp.queryDecisions", {"query": "decision", "limit": 50}),
        ("cstp.queryDecisions", {"query": "decision", "mode": "keyword", "limit": 50}),
        ("cstp.getStats", {}),
    ):
        response = fuzz_client.post(
            "/cstp", json={"jsonrpc": "2.0", "method": method, "params": params, "id": 1}, headers=AUTH
        )
        reply = _strict(response.content)
        assert "result" in reply, reply
