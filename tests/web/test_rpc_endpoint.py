"""POST /cstp bypasses FastAPI's routing; its replies stay exactly what the FastAPI route sent."""

from __future__ import annotations

from typing import Any

from tests.conftest import AUTH


def headers(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k != "x-request-id"}


def test_reply_headers_are_length_and_json(client: Any) -> None:
    r = client.post("/cstp", content=b'{"jsonrpc":"2.0","method":"cstp.nope","id":1}', headers=AUTH)
    assert r.status_code == 200
    assert headers(r) == {"content-length": str(len(r.content)), "content-type": "application/json"}
    assert r.content.startswith(b'{"jsonrpc":"2.0","error":{"code":-32601,')


def test_notification_is_a_bare_204(client: Any) -> None:
    r = client.post("/cstp", content=b'{"jsonrpc":"2.0","method":"cstp.nope"}', headers=AUTH)
    assert (r.status_code, headers(r), r.content) == (204, {}, b"")


def test_401_and_413_bodies_are_compact_json(app_factory: Any) -> None:
    from fastapi.testclient import TestClient

    with TestClient(app_factory(max_body_bytes=1024)) as c:
        r = c.post("/cstp", content=b"{}")
        assert r.content == b'{"detail":"Authorization header required"}'
        assert headers(r) == {
            "www-authenticate": "Bearer",
            "content-length": "42",
            "content-type": "application/json",
        }
        for body in (b"x" * 2000, iter([bytes(800), bytes(800)])):  # declared, then streamed
            r = c.post("/cstp", content=body, headers=AUTH)
            assert (r.status_code, r.content) == (413, b'{"detail":"Request body exceeds 1024 bytes"}')


def test_other_methods_and_spellings_of_the_path_behave_as_routed(client: Any) -> None:
    assert client.get("/cstp").status_code == 405
    r = client.post("/cstp/", content=b"{}", headers=AUTH, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"].endswith("/cstp")
