"""The dashboard over the wire (TestClient): sign-in, sessions, CSRF, headers, every page, escaping."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cstp.web.ui.security import COOKIE, CSP
from tests.conftest import rpc
from tests.ui.helpers import csrf_of, form_token, sign_in

PAGES = ("/ui/", "/ui/decisions", "/ui/calibration", "/ui/guardrails", "/ui/agents", "/ui/agents/live")


@pytest.fixture
def ui(app_factory: Any) -> Any:
    with TestClient(app_factory(), base_url="http://127.0.0.1") as c:
        yield c


def _record(client: Any, text: str, **extra: Any) -> str:
    params = {"decision": text, "confidence": 0.8, "category": "architecture", "stakes": "medium", **extra}
    reply = rpc(client, "cstp.recordDecision", params)
    return str(reply["result"]["id"])


def test_root_redirects_browsers_and_keeps_the_404_for_api_clients(ui: Any) -> None:
    browser = ui.get("/", headers={"Accept": "text/html,application/xhtml+xml"}, follow_redirects=False)
    assert browser.status_code == 302 and browser.headers["location"] == "/ui/"
    api = ui.get("/", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_sign_in_without_a_session(ui: Any, path: str) -> None:
    response = ui.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/signin?next=")


def test_sign_in_sets_a_hardened_cookie_that_is_not_the_token(ui: Any) -> None:
    response = sign_in(ui)
    assert response.status_code == 303 and response.headers["location"] == "/ui/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/ui" in lowered
    assert "max-age=28800" in lowered and "secure" not in lowered
    from tests.conftest import TOKEN

    assert TOKEN not in cookie
    page = ui.get("/ui/")
    assert page.status_code == 200 and TOKEN not in page.text
    assert "tester" in page.text  # the signed-in agent


def test_a_wrong_token_is_refused(ui: Any) -> None:
    response = sign_in(ui, "not-the-right-token")
    assert response.status_code == 401
    assert "That token was not accepted." in response.text
    assert COOKIE not in response.headers.get("set-cookie", "")
    assert ui.get("/ui/", follow_redirects=False).status_code == 303


def test_sign_in_needs_its_form_token_and_this_origin(ui: Any) -> None:
    from tests.conftest import TOKEN

    assert ui.post("/ui/signin", data={"token": TOKEN}, follow_redirects=False).status_code == 403
    forged = {"form": "1.deadbeef", "token": TOKEN}
    assert ui.post("/ui/signin", data=forged, follow_redirects=False).status_code == 403
    cross = ui.post(
        "/ui/signin",
        data={"form": form_token(ui), "token": TOKEN},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert cross.status_code == 403


def test_secure_cookie_setting(app_factory: Any) -> None:
    with TestClient(app_factory(ui_cookie_secure=True), base_url="http://127.0.0.1") as c:
        assert "secure" in sign_in(c).headers["set-cookie"].lower()


def test_every_page_renders_with_a_strict_csp(ui: Any) -> None:
    _record(ui, "Adopt a queue", reasons=[{"type": "analysis", "text": "decouples writers"}], tags=["infra"])
    sign_in(ui)
    for path in PAGES:
        response = ui.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
        assert (
            "<script>" not in response.text
            and " style=" not in response.text
            and "<style" not in response.text
        )
    static = ui.get("/ui/static/htmx.min.js")
    assert static.status_code == 200 and static.headers["content-security-policy"] == CSP
    assert "no-store" not in static.headers.get("cache-control", "")


def test_decision_text_with_html_shows_as_text(ui: Any) -> None:
    evil = '<script>alert("x")</script><b>bold</b>'
    decision_id = _record(ui, evil, tags=['<img src=x onerror="1">'], context="<i>ctx</i>")
    sign_in(ui)
    for path in (f"/ui/decisions/{decision_id}", "/ui/decisions", "/ui/"):
        text = ui.get(path).text
        assert "<script>alert" not in text and "<b>bold</b>" not in text and "<img src=x" not in text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in text, path


def test_sign_out_revokes_the_session(ui: Any) -> None:
    sign_in(ui)
    cookie = ui.cookies.get(COOKIE)
    page = ui.get("/ui/")
    out = ui.post("/ui/signout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/signin"
    assert cookie and not ui.cookies.get(COOKIE)  # the browser was told to drop it
    ui.cookies.set(COOKIE, cookie, path="/ui")  # the old cookie, replayed
    assert ui.get("/ui/", follow_redirects=False).status_code == 303


def test_forged_and_expired_cookies_are_refused(app_factory: Any) -> None:
    app = app_factory()
    with TestClient(app, base_url="http://127.0.0.1") as c:
        sign_in(c)
        value = str(c.cookies.get(COOKIE))
        session_id, _, signature = value.rpartition(".")
        for forged in (f"{session_id}.{'0' * len(signature)}", f"x{session_id}.{signature}", "garbage", ""):
            c.cookies.clear()
            c.cookies.set(COOKIE, forged, path="/ui")
            assert c.get("/ui/", follow_redirects=False).status_code == 303, forged
        c.cookies.clear()
        c.cookies.set(COOKIE, value, path="/ui")
        assert c.get("/ui/").status_code == 200
        sessions = app.state.ui.sessions
        sessions._clock = lambda: 10**12  # far past every expiry
        assert c.get("/ui/", follow_redirects=False).status_code == 303


def test_a_post_without_its_csrf_token_is_refused(ui: Any) -> None:
    decision_id = _record(ui, "Ship on Fridays")
    sign_in(ui)
    page = ui.get(f"/ui/decisions/{decision_id}")
    for data in ({"outcome": "success"}, {"outcome": "success", "csrf": "wrong"}):
        response = ui.post(f"/ui/decisions/{decision_id}/review", data=data, follow_redirects=False)
        assert response.status_code == 403
    assert rpc(ui, "cstp.getDecision", {"id": decision_id})["result"]["decision"]["status"] == "pending"
    good = ui.post(
        f"/ui/decisions/{decision_id}/review",
        data={"outcome": "success", "csrf": csrf_of(page.text), "actual_result": "went fine"},
        follow_redirects=False,
    )
    assert good.status_code == 303 and good.headers["location"] == f"/ui/decisions/{decision_id}"
    stored = rpc(ui, "cstp.getDecision", {"id": decision_id})["result"]["decision"]
    assert (
        stored["status"] == "reviewed"
        and stored["outcome"] == "success"
        and stored["reviewed_by"] == "tester"
    )


def test_review_errors_show_the_protocol_message(ui: Any) -> None:
    decision_id = _record(ui, "Pick a vendor")
    sign_in(ui)
    csrf = csrf_of(ui.get(f"/ui/decisions/{decision_id}").text)
    response = ui.post(f"/ui/decisions/{decision_id}/review", data={"outcome": "maybe", "csrf": csrf})
    assert response.status_code == 400 and "outcome" in response.text and "Traceback" not in response.text


def test_unknown_decision_is_a_message(ui: Any) -> None:
    sign_in(ui)
    response = ui.get("/ui/decisions/abcdef12")
    assert response.status_code == 404 and "No decision with id abcdef12." in response.text


def test_list_filters_search_and_semantic_mode(ui: Any) -> None:
    a = _record(ui, "Cache sessions in redis", category="architecture", tags=["cache"])
    b = _record(ui, "Rotate the signing keys", category="security", stakes="high", confidence=0.9)
    sign_in(ui)
    only_security = ui.get("/ui/decisions", params={"category": "security"}).text
    assert b in only_security and a not in only_security
    searched = ui.get("/ui/decisions", params={"q": "redis"}).text
    assert a in searched and b not in searched
    semantic = ui.get("/ui/decisions", params={"q": "redis cache", "mode": "semantic"}).text
    assert "Distance" in semantic and a in semantic
    bad = ui.get("/ui/decisions", params={"stakes": "enormous"})
    assert bad.status_code == 200 and "stakes" in bad.text and 'class="alert"' in bad.text


def test_guardrail_check_blocked_and_allowed(ui: Any) -> None:
    sign_in(ui)
    csrf = csrf_of(ui.get("/ui/guardrails").text)
    blocked = ui.post(
        "/ui/guardrails/check",
        data={"csrf": csrf, "description": "Deploy to production", "stakes": "high", "confidence": "0.3"},
    )
    assert (
        blocked.status_code == 200
        and "Blocked" in blocked.text
        and "no-high-stakes-low-confidence" in blocked.text
    )
    allowed = ui.post(
        "/ui/guardrails/check",
        data={"csrf": csrf, "description": "Deploy to staging", "stakes": "low", "confidence": "0.9"},
    )
    assert allowed.status_code == 200 and "Allowed" in allowed.text
    bad = ui.post("/ui/guardrails/check", data={"csrf": csrf, "description": "x", "confidence": "lots"})
    assert bad.status_code == 400 and "confidence" in bad.text


def test_dashboard_requests_count_under_one_route_label(ui: Any) -> None:
    ui.get("/ui/signin")
    ui.get("/ui/decisions/abc", follow_redirects=False)
    metrics = ui.get("/metrics").text
    assert 'route="/ui",status="200"' in metrics and 'route="/ui",status="303"' in metrics
    assert "/ui/decisions/abc" not in metrics


def test_guardrails_page_shows_rule_files_and_a_failed_reload(app_factory: Any, tmp_path: Any) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "mine.yaml").write_text(
        "- id: no-friday\n  description: No Friday deploys\n  condition_stakes: high\n  action: warn\n",
        encoding="utf-8",
    )
    app = app_factory(guardrails_paths=str(rules))
    with TestClient(app, base_url="http://127.0.0.1") as c:
        sign_in(c)
        page = c.get("/ui/guardrails").text
        assert "<code>mine.yaml</code>" in page and "no-friday" in page and str(tmp_path) not in page
        row = page[page.index("<code>no-friday</code>") :].split("</tr>")[0]
        assert "<td><code>mine.yaml</code></td>" in row  # the file the rule came from
        (rules / "mine.yaml").write_text("guardrails: [[[", encoding="utf-8")
        assert app.state.services.guardrails.reload() is False
        page = c.get("/ui/guardrails").text
        assert 'id="reload-error"' in page and "mine.yaml" in page and str(tmp_path) not in page
