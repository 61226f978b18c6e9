"""`CstpClient`: one JSON-RPC call per `call`, over a kept-alive httpx connection.

A write the server refuses under load ("Server busy", `data.component` "writes",
docs/PROTOCOL.md) stored nothing, so sending it again is safe: `call` waits the server's
`retryAfterMs` and sends it again, for up to `busy_patience` seconds in all, before it gives the
refusal to the caller. Without that, `cstp record` (or an import) against a loaded server failed
where the same command a second later would have worked.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time
from typing import Any

import httpx
import orjson


def refused_as_busy(reply: object) -> bool:
    """Whether a JSON-RPC reply object is a write refused by the server's admission control
    ("Server busy", `data.component` "writes"): nothing was stored, so it may be sent again."""
    error = reply.get("error") if isinstance(reply, dict) else None
    return isinstance(error, dict) and _busy_data(error.get("data"))


def _busy_data(data: object) -> bool:
    return isinstance(data, dict) and data.get("component") == "writes"


class RpcFailure(Exception):
    """The server answered with a JSON-RPC error (its code, message and data)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    @property
    def busy(self) -> bool:
        """A write refused by the server's admission control: nothing was stored, retryable."""
        return _busy_data(self.data)

    @property
    def retry_after_s(self) -> float:
        """The server's retry hint in seconds (0 when it gave none)."""
        hint = self.data.get("retryAfterMs") if isinstance(self.data, dict) else None
        return max(0.0, float(hint)) / 1000 if isinstance(hint, int | float) else 0.0


class TransportFailure(Exception):
    """No JSON-RPC answer: the server is unreachable, refused the token, or sent no JSON."""


# A refused write is sent again after the server's hint, at least this long and at most that
# (the server's hint is at least one write's time; a floor keeps a tiny hint from spinning), with
# up to a quarter more at random so that clients refused together do not all come back together.
BUSY_RETRY_MIN_S = 0.05
BUSY_RETRY_MAX_S = 2.0
BUSY_PATIENCE_S = 30.0


class CstpClient:
    """Calls `POST <url>/cstp` with a bearer token. Use as a context manager (closes the pool).

    Thread safety: httpx's Client is thread-safe; the id counter is an atomic `itertools.count`.
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = 60.0,
        busy_patience: float = BUSY_PATIENCE_S,
    ) -> None:
        """`url` is the server's base URL (`http://host:8100`), with or without `/cstp`.
        `busy_patience`: seconds a refused write is sent again for (0: never)."""
        base = url.rstrip("/")
        self.endpoint = base if base.endswith("/cstp") else f"{base}/cstp"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(headers=headers, timeout=timeout)
        self._ids = itertools.count(1)
        self._busy_patience = busy_patience

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """The `result` of `method(params)`; raises RpcFailure or TransportFailure. A write
        refused as busy is sent again after the server's hint while `busy_patience` lasts."""
        give_up_at = time.monotonic() + self._busy_patience
        while True:
            try:
                return self._call_once(method, params)
            except RpcFailure as e:
                if not e.busy:
                    raise
                wait = min(max(e.retry_after_s, BUSY_RETRY_MIN_S), BUSY_RETRY_MAX_S)
                wait *= 1 + random.random() / 4  # noqa: S311 - jitter, not security
                if time.monotonic() + wait > give_up_at:
                    raise
                time.sleep(wait)

    def _call_once(self, method: str, params: dict[str, Any] | None) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or {}}
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            response = self._http.post(
                self.endpoint, content=content, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as e:
            raise TransportFailure(f"cannot reach {self.endpoint}: {e}") from None
        if response.status_code in (401, 403):
            raise TransportFailure(
                f"the server refused the token ({response.status_code}: {_detail(response)})"
            )
        if response.status_code == 413:
            raise TransportFailure(f"request too large: {_detail(response)}")
        if response.status_code != 200:
            raise TransportFailure(f"HTTP {response.status_code} from {self.endpoint}: {_detail(response)}")
        try:
            reply = _decode(response.content)
        except ValueError:
            raise TransportFailure(f"{self.endpoint} did not answer JSON") from None
        if not isinstance(reply, dict):
            raise TransportFailure(f"{self.endpoint} sent an unexpected reply")
        if "error" in reply and reply["error"] is not None:
            err = reply["error"]
            raise RpcFailure(int(err.get("code", 0)), str(err.get("message", "")), err.get("data"))
        return reply.get("result")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CstpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# 19 digits in a row: possibly an integer beyond 64 bits, which orjson reads as a float (silently).
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def _decode(content: bytes) -> Any:
    """The reply, always exactly what `json.loads` gives: parsed by orjson (an 800 KB export page
    in 5 ms, against 14 ms for httpx's `response.json()`), unless it holds a run of 19 digits (an
    integer orjson might not read exactly, as in a record's free-form details) or something
    orjson refuses but `json` reads."""
    if _LONG_DIGITS.search(content) is None:
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
    return json.loads(content)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return response.text[:200]
