"""listDecisions over JSON-RPC: every filter alone and combined, every sort key both ways with
ties, paging, the date range, text search, bad params, and the row keys the dashboard reads.

Expectations are computed in plain Python from `SEED` (not through `DecisionFilter`), so a wrong
translation of a param cannot agree with itself. tests/integration/test_browse_on_chroma.py runs
this module and test_stats.py again on embedded Chroma.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cstp.app import create_app
from cstp.domain.records import Decision, Reason, Review
from cstp.settings import Settings
from tests.conftest import TOKEN, rpc

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = (NOW - timedelta(days=3)).date()  # b04 late on this day, b05 at its first instant
TIE = NOW - timedelta(hours=2)  # b07 and b08 share this date exactly

SEED: list[dict[str, Any]] = [
    dict(id="b01", decision="Use PostgreSQL for billing storage", context="Invoices need transactions",
         pattern="prefer boring tech", category="architecture", confidence=0.9, stakes="high",
         outcome="success", agent="alice", project="billing", tags=("db", "storage"),
         when=NOW - timedelta(days=200)),
    dict(id="b02", decision="Adopt trunk-based development", context="Long branches cause merge pain",
         pattern=None, category="process", confidence=0.6, stakes="medium", outcome=None, agent="bob",
         project="platform", tags=("git",), when=NOW - timedelta(days=100)),
    dict(id="b03", decision="Integrate Stripe webhooks via a queue", context=None,
         pattern="retry with backoff", category="integration", confidence=0.75, stakes="critical",
         outcome="failure", agent="alice", project="billing", tags=("queue", "payments"),
         when=NOW - timedelta(days=30, hours=1)),
    dict(id="b04", decision="Pin Python dependencies with a lock file", context=None, pattern=None,
         category="tooling", confidence=0.6, stakes="low", outcome=None, agent=None,
         project="platform", tags=("deps", "db"), when=datetime.combine(DAY, time(22, 30), tzinfo=UTC)),
    dict(id="b05", decision="Require hardware keys for SSH", context="Phished laptop last year",
         pattern=None, category="security", confidence=0.4, stakes="critical", outcome="partial",
         agent="carol", project="infra", tags=("ssh", "auth"),
         when=datetime.combine(DAY, time(), tzinfo=UTC)),
    dict(id="b06", decision="Rotate database credentials monthly", context="PostgreSQL passwords leak",
         pattern=None, category="security", confidence=0.9, stakes="high", outcome=None, agent="bob",
         project="infra", tags=("db", "auth"), when=NOW - timedelta(hours=12)),
    dict(id="b07", decision="Cache API responses at the edge", context=None, pattern="cache aside",
         category="architecture", confidence=0.6, stakes="medium", outcome=None, agent="alice",
         project="platform", tags=(), when=TIE),
    dict(id="b08", decision="Document the release process", context=None, pattern=None,
         category="process", confidence=0.75, stakes="low", outcome=None, agent="alice", project=None,
         tags=("docs",), when=TIE),
]  # fmt: skip
BY_ID = {s["id"]: s for s in SEED}


def decision_of(s: dict[str, Any]) -> Decision:
    d = Decision(
        id=s["id"],
        decision=s["decision"],
        context=s["context"],
        pattern=s["pattern"],
        category=s["category"],
        confidence=s["confidence"],
        stakes=s["stakes"],
        date=s["when"],
        project=s["project"],
        pr=3 if s["id"] == "b03" else None,
        tags=s["tags"],
        reasons=(Reason("analysis", f"why {s['id']}", 0.7),),
        recorded_by=s["agent"],
        details={"bridge": {"structure": "queue", "function": "absorb bursts"}} if s["id"] == "b03" else {},
    )
    if s["outcome"]:
        d = d.with_review(Review(s["outcome"], NOW, "reviewer", actual_result="it went", lessons="learn"))
    return d


def seed_client(client: Any, seed: list[dict[str, Any]]) -> None:
    adapters = client.app.state.adapters
    items = [(d, adapters.embedder.embed([d.document()])[0]) for d in map(decision_of, seed)]
    adapters.store.save(items)


@pytest.fixture(scope="module")
def browsed(tmp_path_factory: pytest.TempPathFactory, make_adapters: Any) -> Iterator[Any]:
    """One app holding `SEED`; the tests here only read."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("browse") / "data",
        auth_tokens=f"tester:{TOKEN}",
        guardrails_watch=False,
    )
    with TestClient(create_app(settings, adapters=make_adapters())) as client:
        seed_client(client, SEED)
        yield client


def listing(client: Any, **params: Any) -> dict[str, Any]:
    reply = rpc(client, "cstp.listDecisions", params)
    assert "result" in reply, reply
    result: dict[str, Any] = reply["result"]
    return result


def ids(result: dict[str, Any]) -> list[str]:
    return [row["id"] for row in result["decisions"]]


# --- rows ----------------------------------------------------------------------------------------
ROW_KEYS = {
    "id", "decision", "summary", "confidence", "category", "stakes", "status", "context",
    "recorded_by", "project", "feature", "pr", "pattern", "outcome", "actual_result", "lessons",
    "review_notes", "reviewed_at", "created_at", "date", "updated_at", "tags", "reasons",
}  # fmt: skip


def test_rows_carry_every_key_the_dashboard_reads(browsed: Any) -> None:
    result = listing(browsed, limit=500)
    assert set(result) == {"decisions", "total", "limit", "offset"}
    rows = {row["id"]: row for row in result["decisions"]}
    for row in rows.values():
        assert set(row) >= ROW_KEYS
        assert isinstance(row["confidence"], float)
        assert datetime.fromisoformat(row["created_at"]) == BY_ID[row["id"]]["when"]
        assert row["date"] == row["created_at"]
        assert row["summary"] == row["decision"] == BY_ID[row["id"]]["decision"]
        assert row["reasons"] == [{"type": "analysis", "text": f"why {row['id']}", "strength": 0.7}]
    reviewed, pending = rows["b03"], rows["b02"]
    assert reviewed["status"] == "reviewed" and reviewed["outcome"] == "failure"
    assert reviewed["actual_result"] == "it went" and reviewed["lessons"] == "learn"
    assert reviewed["updated_at"] == reviewed["reviewed_at"] == NOW.isoformat()
    assert reviewed["bridge"] == {"structure": "queue", "function": "absorb bursts"}
    assert reviewed["project_context"] == {
        "project": "billing", "feature": None, "pr": 3, "file": None, "line": None, "commit": None,
    }  # fmt: skip
    assert pending["outcome"] is None and pending["reviewed_at"] is None
    assert pending["updated_at"] == pending["created_at"] and "bridge" not in pending
    assert rows["b04"]["recorded_by"] is None and rows["b04"]["tags"] == ["deps", "db"]
    assert "project_context" not in rows["b08"]  # no project field: no empty project card


# --- filters -------------------------------------------------------------------------------------
def _day_end(s: dict[str, Any]) -> datetime:
    return datetime.combine(s["when"].date(), time(23, 59, 59, 999999), tzinfo=UTC)


def expected(params: dict[str, Any]) -> list[str]:
    """The ids `params` select, newest first, by a plain reading of the params."""
    words = str(params.get("search", "")).lower().split()
    out = []
    for s in SEED:
        status = "reviewed" if s["outcome"] else "pending"
        text = " ".join(x or "" for x in (s["decision"], s["context"], s["pattern"])).lower()
        checks = [
            params.get("category") in (None, s["category"]),
            params.get("stakes") in (None, s["stakes"]),
            params.get("status") in (None, status),
            params.get("agent") in (None, s["agent"]),
            params.get("project") in (None, s["project"]),
            "tags" not in params or bool(set(params["tags"]) & set(s["tags"])),
            "dateFrom" not in params or s["when"] >= params["_from"],
            "dateTo" not in params or s["when"] <= params["_to"],
            all(w in text for w in words),
        ]
        if all(checks):
            out.append(s)
    out.sort(key=lambda s: s["id"])
    out.sort(key=lambda s: s["when"], reverse=True)
    return [s["id"] for s in out]


FILTERS: list[dict[str, Any]] = [
    {},
    {"category": "security"},
    {"stakes": "critical"},
    {"status": "reviewed"},
    {"status": "pending"},
    {"agent": "alice"},
    {"tags": ["auth", "queue"]},
    {"tags": ["nothing-has-this"]},
    {"project": "platform"},
    {"dateFrom": DAY.isoformat(), "_from": datetime.combine(DAY, time(), tzinfo=UTC)},
    {"dateTo": DAY.isoformat(), "_to": _day_end({"when": datetime.combine(DAY, time(), tzinfo=UTC)})},
    {"search": "postgresql"},
    {"category": "security", "stakes": "high"},
    {"agent": "alice", "status": "pending", "project": "platform"},
    {"tags": ["db"], "project": "infra", "search": "database"},
    {"stakes": "critical", "status": "reviewed", "category": "integration", "agent": "alice"},
    {"category": "process", "tags": ["git", "docs"], "status": "pending", "search": "adopt"},
    {
        "dateFrom": (NOW - timedelta(days=150)).isoformat(),
        "_from": NOW - timedelta(days=150),
        "dateTo": (NOW - timedelta(hours=6)).isoformat(),
        "_to": NOW - timedelta(hours=6),
        "tags": ["db", "payments"],
    },
]


@pytest.mark.parametrize("params", FILTERS, ids=lambda p: ",".join(k for k in p if k[0] != "_") or "none")
def test_each_filter_alone_and_combined_selects_as_expected(browsed: Any, params: dict[str, Any]) -> None:
    want = expected(params)
    result = listing(browsed, limit=500, **{k: v for k, v in params.items() if not k.startswith("_")})
    assert ids(result) == want
    assert result["total"] == len(want)
    assert params == {} or len(want) < len(SEED)  # every case narrows: a filter ignored would fail


def test_snake_case_date_aliases_and_single_string_tags(browsed: Any) -> None:
    by_alias = listing(browsed, date_from=DAY.isoformat(), date_to=DAY.isoformat())
    assert ids(by_alias) == ["b04", "b05"]
    assert ids(listing(browsed, tags="docs")) == ["b08"]


def test_date_only_date_to_includes_that_whole_day(browsed: Any) -> None:
    on_day = listing(browsed, dateFrom=DAY.isoformat(), dateTo=DAY.isoformat())
    assert ids(on_day) == ["b04", "b05"]  # 22:30 and 00:00 of that day
    before = (DAY - timedelta(days=1)).isoformat()
    assert "b04" not in ids(listing(browsed, dateTo=before, limit=500))
    assert "b05" not in ids(listing(browsed, dateTo=before, limit=500))
    # A date-time is taken as given: 21:00 excludes the 22:30 decision; naive means UTC.
    assert ids(listing(browsed, dateFrom=DAY.isoformat(), dateTo=f"{DAY.isoformat()}T21:00:00")) == ["b05"]
    assert ids(listing(browsed, dateFrom=f"{DAY.isoformat()}T22:30:00Z", dateTo=DAY.isoformat())) == ["b04"]


def test_search_is_case_insensitive_over_decision_context_and_pattern(browsed: Any) -> None:
    assert ids(listing(browsed, search="POSTGRESQL")) == ["b06", "b01"]  # context, decision
    assert ids(listing(browsed, search="backoff")) == ["b03"]  # pattern
    assert ids(listing(browsed, search="cache edge")) == ["b07"]  # every word must occur
    assert ids(listing(browsed, search="cache billing")) == []
    assert ids(listing(browsed, search="webhook")) == ["b03"]  # a word inside a longer one
    assert listing(browsed, search="?!")["total"] == len(SEED)  # no word: no text criterion
    assert listing(browsed, search="ssh", tags=["git"])["total"] == 0


def test_empty_strings_are_no_filter(browsed: Any) -> None:
    result = listing(browsed, category="", stakes="", status="", agent="", search="", project="")
    assert result["total"] == len(SEED)


# --- sorting and paging --------------------------------------------------------------------------
STAKES_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
PRIMARY: dict[str, Callable[[dict[str, Any]], Any]] = {
    "created_at": lambda s: s["when"],
    "confidence": lambda s: s["confidence"],
    "category": lambda s: s["category"],
    "stakes": lambda s: STAKES_RANK[s["stakes"]],
    "status": lambda s: "reviewed" if s["outcome"] else "pending",
}


def sorted_ids(sort: str, order: str) -> list[str]:
    """The documented order: `sort` in `order`, ties newest first, then ascending id."""

    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        pa, pb = PRIMARY[sort](a), PRIMARY[sort](b)
        if pa != pb:
            return (-1 if pa < pb else 1) * (1 if order == "asc" else -1)
        if a["when"] != b["when"]:
            return -1 if a["when"] > b["when"] else 1
        return -1 if a["id"] < b["id"] else 1

    return [s["id"] for s in sorted(SEED, key=functools.cmp_to_key(compare))]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort", sorted(PRIMARY))
def test_every_sort_key_both_ways_with_ties_broken_stably(browsed: Any, sort: str, order: str) -> None:
    assert ids(listing(browsed, sort=sort, order=order, limit=500)) == sorted_ids(sort, order)


def test_ties_are_broken_by_date_then_id() -> None:
    # The seed really has ties on every key, so the test above exercises the tie-breakers.
    for sort, key in PRIMARY.items():
        values = Counter(key(s) for s in SEED)
        assert max(values.values()) >= 2 or sort == "created_at", sort
    assert sorted_ids("created_at", "desc")[:2] == ["b07", "b08"]  # equal dates: ascending id
    assert sorted_ids("stakes", "desc")[:2] == ["b05", "b03"]  # severity, then newest


@pytest.mark.parametrize(
    ("sort", "order"), [("created_at", "desc"), ("confidence", "asc"), ("stakes", "desc")]
)
def test_pages_partition_the_listing_without_repeats_or_gaps(browsed: Any, sort: str, order: str) -> None:
    seen: list[str] = []
    for offset in range(0, len(SEED) + 3, 3):
        page = listing(browsed, sort=sort, order=order, limit=3, offset=offset)
        assert page["total"] == len(SEED) and page["limit"] == 3 and page["offset"] == offset
        seen += ids(page)
    assert seen == sorted_ids(sort, order)


def test_filtered_pages_report_the_filtered_total(browsed: Any) -> None:
    page = listing(browsed, agent="alice", limit=2, offset=1)
    assert page["total"] == 4 and ids(page) == expected({"agent": "alice"})[1:3]


def test_unknown_sort_and_order_fall_back_to_newest_first(browsed: Any) -> None:
    newest = sorted_ids("created_at", "desc")
    assert ids(listing(browsed, sort="decision", order="sideways", limit=500)) == newest
    assert ids(listing(browsed, sort=["x"], order=1, limit=500)) == newest
    assert ids(listing(browsed, order="ASC", limit=500)) == sorted_ids("created_at", "asc")


def test_limit_defaults_to_20_and_is_clamped(browsed: Any) -> None:
    assert listing(browsed)["limit"] == 20
    assert listing(browsed, limit=0)["limit"] == 1 and len(ids(listing(browsed, limit=0))) == 1
    assert listing(browsed, limit=10_000)["limit"] == 500
    assert listing(browsed, limit="3")["limit"] == 3  # numeric strings, as the reference's int()
    negative = listing(browsed, offset=-5, limit=2)
    assert negative["offset"] == 0 and ids(negative) == sorted_ids("created_at", "desc")[:2]
    assert listing(browsed, offset=100)["decisions"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "x"}, "limit"),
        ({"limit": True}, "limit"),
        ({"offset": "y"}, "offset"),
        ({"stakes": "huge"}, "stakes"),
        ({"status": "done"}, "status"),
        ({"category": "food"}, "category"),
        ({"stakes": ["high"]}, "stakes"),
        ({"tags": 5}, "tags"),
        ({"dateFrom": "yesterday"}, "dateFrom"),
        ({"dateTo": "2026-13-01"}, "dateTo"),
        ({"date_to": 20260101}, "date_to"),  # named as the client sent it
        ({"dateFrom": "2026-02-02", "dateTo": "2026-02-01"}, "dateFrom"),
        ({"search": 3}, "search"),
    ],
)
def test_bad_params_are_invalid_params_naming_the_field(
    browsed: Any, params: dict[str, Any], field: str
) -> None:
    error = rpc(browsed, "cstp.listDecisions", params)["error"]
    assert error["code"] == -32602 and field in error["message"], error
