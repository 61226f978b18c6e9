"""Bad input at the edge: every malformed request gets a JSON-RPC error naming what is wrong,
nothing is stored, and no reply is ever invalid JSON (surrogates, NaN/Infinity, inexact ids)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import AUTH

RECORD = {"decision": "Use a queue for the import", "confidence": 0.8, "category": "architecture"}


def _post(client: Any, raw: bytes | str) -> Any:
    body = raw.encode() if isinstance(raw, str) else raw
    response = client.post("/cstp", content=body, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 200, response.text
    text = response.content.decode("utf-8")  # strict: the reply is valid UTF-8
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"reply contains {c}"))


def _call(client: Any, method: str, params: dict[str, Any], rid: Any = 1) -> Any:
    return _post(client, json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": rid}))


def _count(client: Any) -> int:
    reply = _call(client, "cstp.listDecisions", {}, 9)
    return int(reply["result"]["total"])


def _record_raw(params_json: str, rid: str = "1") -> str:
    return f'{{"jsonrpc":"2.0","method":"cstp.recordDecision","params":{params_json},"id":{rid}}}'


@pytest.mark.parametrize(
    ("params_json", "field"),
    [
        ('{"decision":"a\\ud800b","confidence":0.5}', "decision"),
        ('{"decision":"ok","bridge":{"structure":"\\udfff"}}', "bridge.structure"),
        ('{"decision":"ok","trace":[{"step":"x\\ud83d"}]}', "trace.0.step"),
        ('{"decision":"ok","bridge":{"\\ud800":1}}', "bridge.\\ud800"),
        ('{"decision":"ok","tags":["fine","\\udc00"]}', "tags.1"),
    ],
)
def test_lone_surrogate_is_invalid_params_naming_the_field(client: Any, params_json: str, field: str) -> None:
    before = _count(client)
    reply = _post(client, _record_raw(params_json))
    assert reply["error"]["code"] == -32602, reply
    assert reply["error"]["data"]["field"] == field
    assert reply["id"] == 1
    assert _count(client) == before


def test_lone_surrogate_in_id_or_method_is_invalid_request(client: Any) -> None:
    reply = _post(client, '{"jsonrpc":"2.0","method":"cstp.listDecisions","id":"a\\ud800"}')
    assert reply["error"]["code"] == -32600 and reply["id"] is None
    reply = _post(client, '{"jsonrpc":"2.0","method":"cstp.list\\ud800","id":3}')
    assert reply["error"]["code"] == -32600 and reply["id"] == 3


def test_surrogate_in_a_batch_member_fails_only_that_member(client: Any) -> None:
    before = _count(client)
    good = json.dumps({"jsonrpc": "2.0", "method": "cstp.recordDecision", "params": RECORD, "id": 1})
    bad = _record_raw('{"decision":"x","bridge":{"structure":"\\ud800"}}', "2")
    replies = _post(client, f"[{good},{bad}]")
    assert "result" in replies[0]
    assert replies[1]["error"]["code"] == -32602 and replies[1]["id"] == 2
    assert _count(client) == before + 1


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_literals_are_parse_errors(client: Any, literal: str) -> None:
    reply = _post(client, _record_raw(f'{{"decision":"ok","bridge":{{"x":{literal}}}}}'))
    assert reply["error"]["code"] == -32700 and reply["id"] is None


def test_overflowing_number_in_params_is_invalid_params(client: Any) -> None:
    before = _count(client)
    reply = _post(client, _record_raw('{"decision":"ok","bridge":{"x":[1e400]}}'))
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"]["field"] == "bridge.x.0"
    assert _count(client) == before


@pytest.mark.parametrize("rid", ["1e400", "-1e400", "1.0e-400", "123456789012345678901234567890.5"])
def test_an_id_that_cannot_be_echoed_exactly_is_invalid_request(client: Any, rid: str) -> None:
    reply = _post(client, f'{{"jsonrpc":"2.0","method":"cstp.listDecisions","id":{rid}}}')
    assert reply["error"]["code"] == -32600
    assert reply["id"] is None


@pytest.mark.parametrize(
    ("rid", "echoed"),
    [("0.1", 0.1), ("1e5", 100000.0), ("123456789012345678901234567890", 123456789012345678901234567890)],
)
def test_exact_ids_are_echoed(client: Any, rid: str, echoed: Any) -> None:
    reply = _post(client, f'{{"jsonrpc":"2.0","method":"cstp.listDecisions","id":{rid}}}')
    assert "result" in reply
    assert reply["id"] == echoed and type(reply["id"]) is type(echoed)


def test_body_with_a_utf8_bom_is_accepted(client: Any) -> None:
    body = b"\xef\xbb\xbf" + json.dumps({"jsonrpc": "2.0", "method": "cstp.listDecisions", "id": 4}).encode()
    reply = _post(client, body)
    assert reply["id"] == 4 and "result" in reply


def test_body_that_is_not_utf8_is_a_parse_error(client: Any) -> None:
    # \xed\xa0\x80 is a UTF-8-encoded surrogate: not valid UTF-8.
    reply = _post(client, b'{"jsonrpc":"2.0","method":"cstp.listDecisions","id":"\xed\xa0\x80"}')
    assert reply["error"]["code"] == -32700


def test_deep_nesting_inside_params_is_invalid_params(client: Any) -> None:
    deep = "[" * 40 + "]" * 40
    reply = _post(client, _record_raw(f'{{"decision":"ok","bridge":{{"x":{deep}}}}}'))
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"]["field"].startswith("bridge.x")


def test_nesting_beyond_the_parser_is_a_parse_error(client: Any) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    reply = _post(client, deep)
    assert reply["error"]["code"] == -32700


def test_review_in_overflow_is_invalid_params(client: Any) -> None:
    before = _count(client)
    reply = _post(client, _record_raw('{"decision":"ok","reviewIn":"99999999999d"}'))
    assert reply["error"]["code"] == -32602, reply
    assert reply["error"]["data"]["errors"] == [
        {"field": "reviewIn", "message": "reviewIn must be at most 3650 days"}
    ]
    assert _count(client) == before


def test_free_form_fields_are_bounded(client: Any) -> None:
    from cstp.methods.wire import FREE_FORM_BYTES

    before = _count(client)
    big = {"structure": "x" * 30_000, "function": "y" * 30_000, "more": "z" * 10_000}
    reply = _call(client, "cstp.recordDecision", {"decision": "d", "bridge": big})
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"]["errors"][0]["field"] == "bridge"
    assert str(FREE_FORM_BYTES) in reply["error"]["message"]
    ok = {"decision": "d", "trace": [{"step": "x" * 1000}] * 10}
    reply = _call(client, "cstp.recordDecision", ok, 2)
    assert "result" in reply
    assert _count(client) == before + 1
