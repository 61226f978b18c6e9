"""The domain → JSON-RPC error table: complete, with fixed client texts for every dependency failure."""

from __future__ import annotations

import inspect
import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from cstp import logs
from cstp.domain import errors as domain
from cstp.methods.errors import ERRORS, UNAVAILABLE
from cstp.rpc import MethodSpec, dispatch
from cstp.rpc.errors import to_rpc_error
from tests.rpc.test_dispatch import Limit, raiser

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"
# What a dependency's error text may carry: a server URL, a data directory, a driver's message.
DETAIL = "http://chroma.internal:8000 failed at /var/lib/cstp/data/chroma: connection refused"


def domain_classes() -> list[type[domain.CstpError]]:
    return [
        c
        for _, c in inspect.getmembers(domain, inspect.isclass)
        if issubclass(c, domain.CstpError) and c is not domain.CstpError
    ]


def test_every_domain_error_class_is_mapped() -> None:
    # A class counts as mapped when it, or an ancestor below CstpError, has an entry; CstpError
    # itself (and Exception, BaseException, object above it) must not catch a new class by accident.
    def mapped(c: type) -> bool:
        below = c.__mro__[: c.__mro__.index(domain.CstpError)]
        return any(k in ERRORS for k in below)

    assert [c.__name__ for c in domain_classes() if not mapped(c)] == []


def unavailable_classes() -> list[type[domain.Unavailable]]:
    return [c for c in domain_classes() if issubclass(c, domain.Unavailable)]


@pytest.mark.parametrize("cls", unavailable_classes(), ids=lambda c: c.__name__)
def test_unavailable_reaches_the_client_as_its_fixed_text_and_the_detail_only_the_log(
    cls: type[domain.Unavailable],
) -> None:
    expected = next(UNAVAILABLE[k] for k in cls.__mro__ if k in UNAVAILABLE)
    table = {"down": MethodSpec("down", Limit, raiser(cls(DETAIL)))}
    stream = io.StringIO()
    handler = logs.json_handler(stream)
    logging.getLogger("cstp.rpc").addHandler(handler)
    token = logs.request_id.set("rid-fixed-text")
    try:
        reply = dispatch(b'{"jsonrpc":"2.0","method":"down","id":1}', table, errors=ERRORS)
    finally:
        logs.request_id.reset(token)
        logging.getLogger("cstp.rpc").removeHandler(handler)
    assert reply is not None
    error = json.loads(reply)["error"]
    message, component = expected
    assert error["code"] == -32603 and error["message"] == message
    assert error.get("data") == ({"component": component} if component else None)
    assert "chroma.internal" not in reply.decode() and "/var/lib" not in reply.decode()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    warning = next(x for x in lines if x["level"] == "WARNING")
    assert DETAIL in warning["message"] and warning["request_id"] == "rid-fixed-text"


@pytest.mark.parametrize(
    "exc", [domain.GuardrailError("broken", file="/etc/cstp/rules/x.yaml"), domain.ConfigError("CSTP_X=/p")]
)
def test_other_server_side_errors_have_fixed_texts_too(exc: Exception) -> None:
    error = to_rpc_error(exc, ERRORS).to_wire()
    assert error["code"] == -32603 and "/" not in error["message"]


def test_protocol_md_lists_exactly_the_fixed_texts() -> None:
    section = PROTOCOL.read_text().split("### Dependency failures", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| `(-?\d+)` \| \"([^\"]+)\" \| (`[\w]+`|none) \|$", section, re.M)
    documented: dict[str, Any] = {name: (text, comp.strip("`")) for name, _, text, comp in rows}
    expected = {c.__name__: (t, comp or "none") for c, (t, comp) in UNAVAILABLE.items()}
    assert documented == expected


def test_the_other_fixed_internal_texts_are_the_documented_ones() -> None:
    from cstp.web import middleware

    doc = PROTOCOL.read_text(encoding="utf-8")
    cases = {
        domain.GuardrailError("rule x broken", file="/etc/cstp/rules.yaml"): "Guardrails unavailable",
        domain.ConfigError("CSTP_FOO is wrong"): "Server misconfigured",
        RuntimeError("a bug at /srv/app.py"): "Internal error",
    }
    for exc, text in cases.items():
        error = to_rpc_error(exc, ERRORS)
        assert (error.code, error.text, error.data) == (-32603, text, None)
        assert f'"{text}"' in doc
    assert middleware._RPC_INTERNAL.decode() in doc
    assert middleware._RPC_CUT.decode() in doc
