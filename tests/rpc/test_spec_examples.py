"""The examples of the JSON-RPC 2.0 specification (section 7), replayed against `dispatch`.

cstp takes named parameters only, so the spec's positional examples are sent with named params;
everything else (ids, notifications, batches, error codes) is exactly the spec's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from cstp.rpc import MethodSpec, dispatch


class Subtract(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minuend: int
    subtrahend: int


class Numbers(BaseModel):
    values: list[int] = []


class Anything(BaseModel):
    pass


notified: list[str] = []

TABLE = {
    "subtract": MethodSpec("subtract", Subtract, lambda p, c: p.minuend - p.subtrahend),
    "sum": MethodSpec("sum", Numbers, lambda p, c: sum(p.values)),
    "update": MethodSpec("update", Numbers, lambda p, c: None),
    "notify_hello": MethodSpec("notify_hello", Numbers, lambda p, c: notified.append("hello")),
    "notify_sum": MethodSpec("notify_sum", Numbers, lambda p, c: None),
    "get_data": MethodSpec("get_data", Anything, lambda p, c: ["hello", 5]),
}


def call(body: str) -> Any:
    out = dispatch(body.encode(), TABLE)
    return None if out is None else json.loads(out)


def test_call_with_named_parameters() -> None:
    assert call('{"jsonrpc":"2.0","method":"subtract","params":{"subtrahend":23,"minuend":42},"id":3}') == {
        "jsonrpc": "2.0",
        "result": 19,
        "id": 3,
    }
    assert call('{"jsonrpc":"2.0","method":"subtract","params":{"minuend":42,"subtrahend":23},"id":4}') == {
        "jsonrpc": "2.0",
        "result": 19,
        "id": 4,
    }


def test_notification_gets_no_reply_but_runs() -> None:
    notified.clear()
    assert call('{"jsonrpc":"2.0","method":"notify_hello","params":{"values":[7]}}') is None
    assert notified == ["hello"]


def test_call_of_non_existent_method() -> None:
    reply = call('{"jsonrpc":"2.0","method":"foobar","id":"1"}')
    assert reply["error"]["code"] == -32601 and reply["id"] == "1"


def test_call_with_invalid_json() -> None:
    reply = call('{"jsonrpc":"2.0","method":"foobar,"params":"bar","baz]')
    assert reply["error"]["code"] == -32700 and reply["id"] is None


def test_call_with_invalid_request_object() -> None:
    reply = call('{"jsonrpc":"2.0","method":1,"params":"bar"}')
    assert reply["error"]["code"] == -32600 and reply["id"] is None


def test_batch_with_invalid_json() -> None:
    reply = call('[{"jsonrpc":"2.0","method":"sum","params":[1,2,4],"id":"1"},{"jsonrpc":"2.0","method"]')
    assert reply["error"]["code"] == -32700 and reply["id"] is None


def test_empty_array() -> None:
    reply = call("[]")
    assert isinstance(reply, dict) and reply["error"]["code"] == -32600 and reply["id"] is None


def test_invalid_batch_not_empty() -> None:
    reply = call("[1]")
    assert reply == [{"jsonrpc": "2.0", "error": reply[0]["error"], "id": None}]
    assert reply[0]["error"]["code"] == -32600


def test_invalid_batch() -> None:
    reply = call("[1,2,3]")
    assert [r["error"]["code"] for r in reply] == [-32600] * 3
    assert all(r["id"] is None for r in reply)


def test_rpc_call_batch() -> None:
    reply = call("""[
        {"jsonrpc":"2.0","method":"sum","params":{"values":[1,2,4]},"id":"1"},
        {"jsonrpc":"2.0","method":"notify_hello","params":{"values":[7]}},
        {"jsonrpc":"2.0","method":"subtract","params":{"minuend":42,"subtrahend":23},"id":"2"},
        {"foo":"boo"},
        {"jsonrpc":"2.0","method":"foo.get","params":{"name":"myself"},"id":"5"},
        {"jsonrpc":"2.0","method":"get_data","id":"9"}
    ]""")
    assert len(reply) == 5
    assert reply[0] == {"jsonrpc": "2.0", "result": 7, "id": "1"}
    assert reply[1] == {"jsonrpc": "2.0", "result": 19, "id": "2"}
    assert reply[2]["error"]["code"] == -32600 and reply[2]["id"] is None
    assert reply[3]["error"]["code"] == -32601 and reply[3]["id"] == "5"
    assert reply[4] == {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}


def test_rpc_call_batch_all_notifications() -> None:
    assert (
        call("""[
        {"jsonrpc":"2.0","method":"notify_sum","params":{"values":[1,2,4]}},
        {"jsonrpc":"2.0","method":"notify_hello","params":{"values":[7]}}
    ]""")
        is None
    )


@pytest.mark.parametrize("params", ["[42, 23]", '"bar"', "3", "true"])
def test_params_that_are_not_an_object_are_invalid_params(params: str) -> None:
    reply = call(f'{{"jsonrpc":"2.0","method":"subtract","params":{params},"id":1}}')
    assert reply["error"]["code"] == -32602
