"""Envelope rules beyond the spec's examples: ids, versions, params errors, handler failures."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, Field

from cstp.domain.errors import DecisionNotFound, InvalidInput, StoreUnavailable
from cstp.methods.errors import ERRORS
from cstp.rpc import Dispatcher, MethodSpec, dispatch
from cstp.rpc.errors import InvalidParams


class Limit(BaseModel):
    limit: int = Field(default=10, ge=1)


def boom(p: Any, c: Any) -> Any:
    raise RuntimeError("secret internals /etc/passwd")


def raiser(exc: Exception) -> Any:
    def handler(p: Any, c: Any) -> Any:
        raise exc

    return handler


TABLE = {
    "echo": MethodSpec("echo", Limit, lambda p, c: {"limit": p.limit, "ctx": c}),
    "boom": MethodSpec("boom", Limit, boom),
    "invalid": MethodSpec("invalid", Limit, raiser(InvalidInput("bad tag", field="tags"))),
    "missing": MethodSpec("missing", Limit, raiser(DecisionNotFound("abc"))),
    "down": MethodSpec("down", Limit, raiser(StoreUnavailable("connection refused"))),
}


def call(obj: Any, ctx: Any = None) -> Any:
    out = dispatch(json.dumps(obj).encode(), TABLE, ctx, errors=ERRORS)
    return None if out is None else json.loads(out)


def test_context_reaches_the_handler() -> None:
    assert call({"jsonrpc": "2.0", "method": "echo", "id": 1}, "agent-7")["result"]["ctx"] == ("agent-7")


def test_missing_params_means_empty_object() -> None:
    assert call({"jsonrpc": "2.0", "method": "echo", "id": 1})["result"]["limit"] == 10


@pytest.mark.parametrize("version", [None, "1.0", 2.0, ""])
def test_wrong_jsonrpc_version_is_invalid_request(version: Any) -> None:
    body: dict[str, Any] = {"method": "echo", "id": 1}
    if version is not None:
        body["jsonrpc"] = version
    reply = call(body)
    assert reply["error"]["code"] == -32600 and reply["id"] == 1


@pytest.mark.parametrize("bad_id", [[1], {"a": 1}, True])
def test_id_of_wrong_type_is_invalid_request(bad_id: Any) -> None:
    reply = call({"jsonrpc": "2.0", "method": "echo", "id": bad_id})
    assert reply["error"]["code"] == -32600 and reply["id"] is None


def test_null_id_is_a_request_not_a_notification() -> None:
    reply = call({"jsonrpc": "2.0", "method": "echo", "id": None})
    assert reply == {"jsonrpc": "2.0", "result": {"limit": 10, "ctx": None}, "id": None}


def test_invalid_params_name_the_field() -> None:
    reply = call({"jsonrpc": "2.0", "method": "echo", "params": {"limit": "many"}, "id": 1})
    assert reply["error"]["code"] == -32602
    assert "limit" in reply["error"]["message"]
    assert reply["error"]["data"]["errors"][0]["field"] == "limit"


def test_unexpected_exception_is_internal_error_without_details() -> None:
    reply = call({"jsonrpc": "2.0", "method": "boom", "id": 1})
    assert reply["error"] == {"code": -32603, "message": "Internal error"}


def test_domain_invalid_input_is_invalid_params_naming_field() -> None:
    reply = call({"jsonrpc": "2.0", "method": "invalid", "id": 1})
    assert reply["error"]["code"] == -32602 and reply["error"]["data"] == {"field": "tags"}


def test_not_found_is_invalid_params() -> None:
    reply = call({"jsonrpc": "2.0", "method": "missing", "id": 1})
    assert reply["error"]["code"] == -32602 and "abc" in reply["error"]["message"]


def test_store_unavailable_is_internal_error_naming_component() -> None:
    reply = call({"jsonrpc": "2.0", "method": "down", "id": 1})
    assert reply["error"]["code"] == -32603
    assert reply["error"]["data"] == {"component": "store"}


class Local(Exception):
    pass


def test_the_error_table_is_the_callers_and_an_unmapped_error_is_internal() -> None:
    table = {"raise": MethodSpec("raise", Limit, raiser(Local("detail")))}
    body = b'{"jsonrpc":"2.0","method":"raise","id":1}'
    plain = json.loads(dispatch(body, table) or b"null")
    assert plain["error"] == {"code": -32603, "message": "Internal error"}
    mapped = Dispatcher(table, {Local: lambda e: InvalidParams("local", {"field": "x"})}).dispatch(body)
    assert json.loads(mapped or b"null")["error"] == {
        "code": -32602,
        "message": "local",
        "data": {"field": "x"},
    }


def test_inline_is_only_for_non_blocking_methods_and_early_errors() -> None:
    table = {
        "cheap": MethodSpec("cheap", Limit, lambda p, c: 1, blocking=False),
        "slow": MethodSpec("slow", Limit, lambda p, c: 1),
    }
    d = Dispatcher(table)
    one = lambda m: d.decode(json.dumps({"jsonrpc": "2.0", "method": m, "id": 1}).encode())  # noqa: E731
    assert d.inline(one("cheap")) and d.inline(one("unknown")) and d.inline(d.decode(b"{nope"))
    assert not d.inline(one("slow"))
    assert not d.inline(d.decode(b'[{"jsonrpc":"2.0","method":"cheap","id":1}]'))
    assert d.inline(d.decode(b'{"jsonrpc":"2.0","method":["x"],"id":1}'))


def test_failing_notification_gets_no_reply() -> None:
    assert call({"jsonrpc": "2.0", "method": "boom"}) is None
    assert call({"jsonrpc": "2.0", "method": "nope"}) is None


def test_non_utf8_body_is_parse_error() -> None:
    out = dispatch(b"\xff\xfe{", TABLE)
    assert out is not None and json.loads(out)["error"]["code"] == -32700


def test_observer_sees_method_and_outcome() -> None:
    seen: list[tuple[Any, str]] = []
    dispatch(
        b'[{"jsonrpc":"2.0","method":"echo","id":1},{"jsonrpc":"2.0","method":"nope","id":2}]',
        TABLE,
        None,
        lambda m, o, s: seen.append((m, o)),
    )
    assert seen == [("echo", "ok"), (None, "error-32601")]


def test_batch_members_run_concurrently_on_an_executor_and_keep_order() -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(3, timeout=5)

    def meet(p: Any, c: Any) -> Any:
        barrier.wait()  # only returns if three members are running at the same time
        return p.limit

    table = {"meet": MethodSpec("meet", Limit, meet)}
    batch = [{"jsonrpc": "2.0", "method": "meet", "params": {"limit": n}, "id": n} for n in (1, 2, 3)]
    with ThreadPoolExecutor(4) as pool:
        out = dispatch(json.dumps(batch).encode(), table, None, None, pool)
    assert out is not None
    assert [(r["id"], r["result"]) for r in json.loads(out)] == [(1, 1), (2, 2), (3, 3)]


def nested(depth: int) -> bytes:
    return b'{"jsonrpc":"2.0","id":1,"method":"echo","params":{"x":' + b"[" * depth + b"]" * depth + b"}}"


def test_json_nested_past_the_parsers_limit_is_a_parse_error() -> None:
    reply = json.loads(dispatch(nested(100_000), TABLE) or b"null")
    assert reply["error"]["code"] == -32700 and "deep" in reply["error"]["message"]


def test_json_nested_near_the_parsers_limit_still_gets_a_json_rpc_reply() -> None:
    # Around the recursion limit the parser may or may not accept it; either way the answer is a
    # JSON-RPC reply (result or error), never an exception.
    reply = json.loads(dispatch(nested(2_000), TABLE) or b"null")
    assert reply["jsonrpc"] == "2.0" and ("result" in reply or "error" in reply)


def test_call_runs_one_decoded_call_through_the_same_pipeline() -> None:
    seen: list[tuple[Any, str]] = []
    d = Dispatcher(TABLE, ERRORS, lambda method, outcome, s: seen.append((method, outcome)))
    assert d.call("echo", {"limit": 3}, "ctx") == {
        "jsonrpc": "2.0",
        "result": {"limit": 3, "ctx": "ctx"},
        "id": 0,
    }
    invalid = d.call("echo", {"limit": 0}, None)["error"]
    assert invalid["code"] == -32602 and invalid["data"]["errors"][0]["field"] == "limit"
    assert d.call("boom", {}, None)["error"] == {"code": -32603, "message": "Internal error"}
    assert d.call("nope", {}, None)["error"]["code"] == -32601
    assert seen == [("echo", "ok"), ("echo", "error-32602"), ("boom", "error-32603"), (None, "error-32601")]
    assert d.inline(d.request("echo", {})) is False  # blocking by default, as for a request body
