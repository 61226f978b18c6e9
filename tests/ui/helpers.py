"""Signing in a TestClient to the dashboard, as a browser would (form token, then the token)."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import TOKEN

_FORM = re.compile(r'name="form" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def form_token(client: Any) -> str:
    page = client.get("/ui/signin")
    assert page.status_code == 200
    found = _FORM.search(page.text)
    assert found is not None
    return found.group(1)


def sign_in(client: Any, token: str = TOKEN) -> Any:
    return client.post(
        "/ui/signin",
        data={"form": form_token(client), "token": token, "next": "/ui/"},
        follow_redirects=False,
    )


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None
    return found.group(1)
