"""`RawJson` in a reply: JSON text a handler holds goes out as the value it encodes, and the reply
keeps `encode`'s guarantees when orjson cannot write the rest of it."""

from __future__ import annotations

import json
import logging

import pytest

from cstp.rpc.values import RawJson, encode


def test_raw_texts_are_spliced_in_as_the_values_they_encode() -> None:
    reply = {"jsonrpc": "2.0", "result": {"lines": [RawJson('{"a": [1, 2.5, "é"]}'), RawJson("[]")]}, "id": 7}
    out = encode(reply)
    assert json.loads(out) == {"jsonrpc": "2.0", "result": {"lines": [{"a": [1, 2.5, "é"]}, []]}, "id": 7}
    assert '{"a": [1, 2.5, "é"]}'.encode() in out  # as it was, not parsed and re-encoded


def test_an_integer_orjson_cannot_write_falls_back_to_json_with_the_raw_texts_parsed() -> None:
    reply = {"result": [RawJson('{"n": 123456789012345678901234567890}')], "id": 2**70}
    assert json.loads(encode(reply)) == {"result": [{"n": 123456789012345678901234567890}], "id": 2**70}


def test_a_lone_surrogate_beside_raw_texts_is_still_escaped() -> None:
    out = encode({"result": [RawJson("{}")], "note": "a\ud800b"})
    out.decode("utf-8")  # valid UTF-8
    assert json.loads(out)["note"] == "a\ud800b"


def test_a_non_finite_number_beside_raw_texts_becomes_null() -> None:
    assert json.loads(encode({"result": [RawJson("{}")], "x": float("nan")}))["x"] is None


def test_replies_without_raw_texts_are_encoded_as_before(caplog: pytest.LogCaptureFixture) -> None:
    assert encode({"a": "é", "b": [1, 0.5]}) == '{"a":"é","b":[1,0.5]}'.encode()
    with caplog.at_level(logging.ERROR, logger="cstp.rpc"):
        assert encode({"x": float("inf")}) == b'{"x":null}'
    assert "non-finite" in caplog.text
