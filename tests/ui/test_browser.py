"""The dashboard end to end in a real headless Chromium, against a real `cstp-server` process.

Debian's `chromium` driven by Playwright (docs/DASHBOARD.md, "Tests"): the server runs on embedded
Chroma and the ONNX embedder with seeded decisions; every page must load with no console error
and no request leaving 127.0.0.1. Screenshots of every page (laptop and phone widths) are kept in
`build/ui-screenshots/` for people to look at.

Without Chromium (or Playwright) the module is skipped, unless `CSTP_REQUIRE_BROWSER=1` (CI's
`.ci/run` sets it), where a missing browser fails the run instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serverproc import ServerProcess

CHROMIUM = "/usr/bin/chromium"
TOKEN = "browser-token-0123456789"
SHOTS = Path(__file__).resolve().parents[2] / "build" / "ui-screenshots"
BREAKERS = """
circuit_breakers:
  - scope: stakes:critical
    failure_threshold: 2
    window_ms: 86400000
    cooldown_ms: 7200000
"""
EVIL = '<b>bold</b><img src=x onerror="document.title=1"> & "quotes"'
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (requirements-dev.lock)"
    return None


_MISSING = _browser_missing()
if _MISSING is not None:
    if os.environ.get("CSTP_REQUIRE_BROWSER"):
        raise RuntimeError(f"CSTP_REQUIRE_BROWSER is set but {_MISSING}")
    pytest.skip(_MISSING, allow_module_level=True)

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright  # noqa: E402

pytestmark = pytest.mark.timeout(300)


class Seeded:
    """The server and the ids of the seeded decisions."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.url = server.url
        self.ids: dict[str, str] = {}

    def rpc(self, method: str, params: dict[str, Any]) -> Any:
        reply = self.server.rpc(TOKEN, method, params)
        assert "result" in reply, reply
        return reply["result"]

    def record(self, name: str, text: str, confidence: float, **extra: Any) -> str:
        params = {"decision": text, "confidence": confidence, "category": "architecture", "stakes": "medium"}
        params.update(extra)
        self.ids[name] = str(self.rpc("cstp.recordDecision", params)["id"])
        return self.ids[name]

    def review(self, decision_id: str, outcome: str) -> None:
        assert self.rpc("cstp.reviewDecision", {"id": decision_id, "outcome": outcome})["success"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    root = tmp_path_factory.mktemp("ui-browser")
    rules = root / "guardrails"
    rules.mkdir()
    (rules / "circuit_breakers.yaml").write_text(BREAKERS, encoding="utf-8")
    env = {
        "CSTP_DATA_DIR": str(root / "data"),
        "CSTP_AUTH_TOKENS": f"tester:{TOKEN}",
        "GUARDRAILS_PATHS": str(rules),
        "GUARDRAILS_WATCH": "false",
    }
    with ServerProcess(env) as server:
        server.wait_ready(120)
        s = Seeded(server)
        # Calibration: three buckets with three reviewed decisions each (0.0-0.5, 0.5-0.7, 0.9-1.0).
        samples = (
            (0.3, ("failure", "failure", "success")),
            (0.6, ("success", "failure", "success")),
            (0.95, ("success", "success", "success")),
        )
        for i, (confidence, outcomes) in enumerate(samples):
            for j, outcome in enumerate(outcomes):
                s.review(
                    s.record(f"cal-{i}-{j}", f"Calibration sample {i}.{j} about queues", confidence), outcome
                )
        s.record(
            "redis",
            "Cache user sessions in redis",
            0.55,
            tags=["cache"],
            project="acme",
            reasons=[{"type": "analysis", "text": "reads dominate writes"}],
        )
        s.record("keys", "Rotate the signing keys every quarter", 0.9, category="security", stakes="high")
        s.record("evil", EVIL, 0.7, context="<i>context</i>", tags=["<script>x</script>"])
        # Two failed critical reviews open the stakes:critical breaker.
        for n in range(2):
            s.review(s.record(f"crit-{n}", f"Critical migration {n}", 0.8, stakes="critical"), "failure")
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM, args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
        )
        yield launched
        launched.close()


class Tab:
    """A page in a fresh browser context, recording console errors and outside requests."""

    def __init__(self, context: BrowserContext, base: str) -> None:
        self.context = context
        self.page: Page = context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.outside: list[str] = []
        # HTTP statuses a test provokes on purpose; Chromium logs each as a console error.
        self.expected_statuses: set[int] = set()
        self.page.on("console", lambda m: m.type == "error" and self._console(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))
        self.page.on(
            "request", lambda r: None if r.url.startswith((base, "data:")) else self.outside.append(r.url)
        )

    def _console(self, text: str) -> None:
        found = re.fullmatch(r"Failed to load resource: the server responded with a status of (\d+) .*", text)
        if found is None or int(found.group(1)) not in self.expected_statuses:
            self.errors.append(text)

    def go(self, path: str) -> Page:
        self.page.goto(self.base + path)
        return self.page

    def sign_in(self, token: str = TOKEN) -> None:
        page = self.go("/ui/signin")
        page.fill("#token", token)
        page.click("form button[type=submit]")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0


@pytest.fixture
def tab(browser: Browser, seeded: Seeded) -> Iterator[Tab]:
    context = browser.new_context(base_url=seeded.url, viewport=LAPTOP)
    t = Tab(context, seeded.url)
    yield t
    context.close()
    assert t.errors == [], t.errors
    assert t.outside == [], t.outside


def test_sign_in_refuses_a_wrong_token_then_accepts_the_right_one(tab: Tab) -> None:
    page = tab.go("/ui/decisions")
    expect(page).to_have_url(re.compile(r"/ui/signin\?next="))
    tab.shot("signin")
    tab.expected_statuses.add(401)
    tab.page.fill("#token", "wrong-token-123456")
    tab.page.click("form button[type=submit]")
    expect(page.locator(".alert")).to_have_text("That token was not accepted.")
    assert tab.context.cookies() == []
    tab.page.fill("#token", TOKEN)
    tab.page.click("form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/ui/decisions$"))  # back where the visitor was going
    expect(page.locator("h1")).to_have_text("Decisions")
    (cookie,) = tab.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert TOKEN not in cookie["value"] and TOKEN not in page.content()


def test_overview_shows_counts_and_the_day_chart(tab: Tab, seeded: Seeded) -> None:
    tab.sign_in()
    page = tab.page
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("#total")).to_have_text(str(len(seeded.ids)))
    assert page.locator("svg.days rect.day").count() == 30
    assert page.locator("svg.days rect.day").last.get_attribute("data-count") == str(len(seeded.ids))
    tab.shot("overview")


def test_search_and_filter_the_list(tab: Tab, seeded: Seeded) -> None:
    tab.sign_in()
    page = tab.go("/ui/decisions")
    page.fill("input[name=q]", "redis")
    page.click("form.filters button[type=submit]")
    rows = page.locator("#decisions tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Cache user sessions in redis")
    page.fill("input[name=q]", "")
    page.select_option("select[name=category]", "security")
    page.click("form.filters button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(seeded.ids["keys"])
    tab.shot("decisions")
    page.select_option("select[name=category]", "")
    page.fill("input[name=q]", "session cache")
    page.select_option("select[name=mode]", "semantic")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#decisions thead")).to_contain_text("Distance")
    expect(rows.first).to_contain_text("redis")
    tab.shot("decisions-semantic")


def test_open_a_decision_and_submit_a_review_that_sticks(tab: Tab, seeded: Seeded) -> None:
    tab.sign_in()
    page = tab.go("/ui/decisions?q=redis")
    page.click(f"a[href='/ui/decisions/{seeded.ids['redis']}']")
    expect(page.locator("h1")).to_have_text("Cache user sessions in redis")
    expect(page.locator("#status")).to_have_text("pending")
    expect(page.locator(".reasons")).to_contain_text("reads dominate writes")
    tab.shot("decision")
    page.select_option("select[name=outcome]", "partial")
    page.fill("textarea[name=actual_result]", "hit rate 80%, memory tight")
    page.click("form.review button[type=submit]")
    expect(page.locator("#outcome")).to_have_text("partial")
    page.reload()
    expect(page.locator("#status")).to_have_text("reviewed")
    expect(page.locator("#review")).to_contain_text("hit rate 80%, memory tight")
    stored = seeded.rpc("cstp.getDecision", {"id": seeded.ids["redis"]})["decision"]
    assert stored["outcome"] == "partial" and stored["reviewed_by"] == "tester"
    tab.shot("decision-reviewed")


def test_html_in_a_decision_shows_as_text(tab: Tab, seeded: Seeded) -> None:
    tab.sign_in()
    page = tab.go(f"/ui/decisions/{seeded.ids['evil']}")
    expect(page.locator("h1")).to_have_text(EVIL)
    assert page.locator("h1 b, h1 img, main img").count() == 0
    expect(page.locator("a.tag")).to_have_text("<script>x</script>")
    assert page.title() != "1"


def test_calibration_chart_has_one_bar_per_bucket(tab: Tab) -> None:
    tab.sign_in()
    page = tab.go("/ui/calibration")
    buckets = page.locator("svg.reliability g.bucket")
    expect(buckets).to_have_count(3)
    labels = [buckets.nth(i).get_attribute("data-bucket") for i in range(3)]
    assert labels == ["0.0-0.5", "0.5-0.7", "0.9-1.0"]
    assert [int(buckets.nth(i).get_attribute("data-count") or 0) for i in (0, 2)] == [3, 3]
    assert page.locator("svg.timeline circle.dot.brier").count() == 1  # all seeded in this period
    expect(page.locator("#by-category")).to_contain_text("architecture")
    tab.shot("calibration")
    page.set_viewport_size(PHONE)
    tab.shot("calibration-phone")


def test_try_a_blocked_and_an_allowed_action(tab: Tab) -> None:
    tab.sign_in()
    page = tab.go("/ui/guardrails")
    expect(page.locator("#rules")).to_contain_text("no-high-stakes-low-confidence")
    page.fill("input[name=description]", "Deploy the schema change to production")
    page.select_option("select[name=stakes]", "high")
    page.fill("input[name=confidence]", "0.3")
    page.click("form.try button[type=submit]")
    expect(page.locator("#verdict")).to_contain_text("Blocked")
    expect(page.locator("#verdict")).to_contain_text("no-high-stakes-low-confidence")
    tab.shot("guardrails-blocked")
    page.select_option("select[name=stakes]", "low")
    page.fill("input[name=confidence]", "0.9")
    page.click("form.try button[type=submit]")
    expect(page.locator("#verdict")).to_contain_text("Allowed")
    tab.shot("guardrails")


def test_agents_page_polls_and_resets_a_breaker(tab: Tab) -> None:
    tab.sign_in()
    page = tab.go("/ui/agents")
    row = page.locator("#breakers tr[data-scope='stakes:critical']")
    expect(row.locator(".state")).to_have_text("open")
    with page.expect_response(
        lambda r: r.url.endswith("/ui/agents/live") and r.status == 200, timeout=15_000
    ):
        pass  # htmx polls the live part while the page is open
    expect(page.locator("#live")).to_contain_text("Captured deliberation")
    tab.shot("agents")
    row.locator("button").click()
    expect(page.locator("#reset-result")).to_contain_text("stakes:critical reset: open -> closed")
    expect(page.locator("#breakers tr[data-scope='stakes:critical'] .state")).to_have_text("closed")


def test_sign_out_and_the_old_cookie_stops_working(tab: Tab, browser: Browser, seeded: Seeded) -> None:
    tab.sign_in()
    expect(tab.page.locator("h1")).to_have_text("Overview")
    old = tab.context.cookies()
    tab.page.click("form.signout button")
    expect(tab.page).to_have_url(re.compile(r"/ui/signin$"))
    replay = browser.new_context(base_url=seeded.url)
    try:
        replay.add_cookies(old)  # type: ignore[arg-type]
        page = replay.new_page()
        page.goto(seeded.url + "/ui/")
        expect(page).to_have_url(re.compile(r"/ui/signin\?next="))
    finally:
        replay.close()


def test_a_forged_cookie_is_refused(tab: Tab, seeded: Seeded) -> None:
    tab.sign_in()
    (cookie,) = tab.context.cookies()
    session_id, _, signature = cookie["value"].rpartition(".")
    tab.context.clear_cookies()
    tab.context.add_cookies([{**cookie, "value": f"{session_id}.{signature[::-1]}"}])  # type: ignore[list-item]
    page = tab.go("/ui/")
    expect(page).to_have_url(re.compile(r"/ui/signin\?next="))


def test_a_form_without_its_csrf_token_is_refused(tab: Tab, seeded: Seeded) -> None:
    tab.sign_in()
    page = tab.go(f"/ui/decisions/{seeded.ids['keys']}")
    page.locator("form.review input[name=csrf]").evaluate("e => e.remove()")
    tab.expected_statuses.add(403)
    page.click("form.review button[type=submit]")
    expect(page.locator("h1")).to_have_text("Forbidden")
    tab.shot("csrf-refused")
    stored = seeded.rpc("cstp.getDecision", {"id": seeded.ids["keys"]})["decision"]
    assert stored["status"] == "pending"


@pytest.mark.parametrize("width", ["laptop", "phone"])
def test_every_page_loads_cleanly(tab: Tab, seeded: Seeded, width: str) -> None:
    tab.page.set_viewport_size(LAPTOP if width == "laptop" else PHONE)
    tab.sign_in()
    pages = {
        "overview": "/ui/",
        "decisions": "/ui/decisions",
        "decision": f"/ui/decisions/{seeded.ids['redis']}",
        "calibration": "/ui/calibration",
        "guardrails": "/ui/guardrails",
        "agents": "/ui/agents",
    }
    for name, path in pages.items():
        response = tab.page.goto(seeded.url + path)
        assert response is not None and response.status == 200, path
        expect(tab.page.locator("header nav")).to_be_visible()
        # Nothing wider than the screen but the tables' own scroll boxes.
        overflow = tab.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (path, overflow)
        tab.shot(f"{name}-{width}")
